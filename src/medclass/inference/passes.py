"""The summary of several stochastic passes (MC dropout, TTA) over the same images: the mean probability, the
decision on it, the predictive entropy of that mean (in nats: 0 for a certain prediction, ``ln K`` for a uniform
one) and the standard deviation of the predicted class's probability over the passes (0 when every pass agrees
exactly). Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medclass.inference.decision import Decision


def predictive_entropy(probs: np.ndarray) -> np.ndarray:
    """Entropy ``-sum p log p`` of each row of ``(N, K)`` probabilities, in nats (``0 log 0 = 0``)."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f"probs must be (N, K), got shape {probs.shape}")
    logs = np.log(np.where(probs > 0, probs, 1.0))
    return np.maximum(-(probs * logs).sum(axis=1), 0.0)


@dataclass
class PassSummary:
    """Summary of N stochastic passes over N images.

    Attributes:
        probs: ``(N, K)`` mean probability over the passes.
        predicted: ``(N,)`` predicted class of the mean (argmax, or the binary threshold).
        entropy: ``(N,)`` predictive entropy of ``probs`` in nats.
        std: ``(N,)`` standard deviation over the passes of the predicted class's probability.
    """

    probs: np.ndarray
    predicted: np.ndarray
    entropy: np.ndarray
    std: np.ndarray


def summarize_passes(pass_probs: np.ndarray, decision: Decision | None = None) -> PassSummary:
    """Mean, predicted class, predictive entropy and spread of ``(P, N, K)`` per-pass probabilities.

    The mean and the spread are taken relative to the first pass (``p0 + mean(p - p0)``): mathematically the
    same, and exact when the passes agree, so one pass reproduces the plain prediction bit for bit and
    identical passes have a spread of exactly 0. The predicted class is ``decision``'s (default: the argmax).
    """
    pass_probs = np.asarray(pass_probs, dtype=np.float64)
    if pass_probs.ndim != 3 or pass_probs.shape[0] < 1:
        raise ValueError(f"pass probabilities must be (passes, N, K), got shape {pass_probs.shape}")
    first = pass_probs[0]
    deviation = pass_probs - first
    probs = first + deviation.mean(axis=0)
    predicted = (decision or Decision()).decide(probs)
    rows = np.arange(probs.shape[0])
    std = deviation[:, rows, predicted].std(axis=0)
    return PassSummary(probs=probs, predicted=predicted, entropy=predictive_entropy(probs), std=std)
