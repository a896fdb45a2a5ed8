"""The summary of several stochastic passes (MC dropout, TTA) over the same images: the mean probability, the
decision on it, the predictive entropy of that mean (in nats: 0 for a certain prediction, ``ln K`` for a uniform
one) and the standard deviation of the predicted class's probability over the passes (0 when every pass agrees
exactly). A multi-label model's passes are summarised per label (:func:`summarize_label_passes`). Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medclass.inference.decision import Decision, MultilabelDecision


def predictive_entropy(probs: np.ndarray) -> np.ndarray:
    """Entropy ``-sum p log p`` of each row of ``(N, K)`` probabilities, in nats (``0 log 0 = 0``)."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f"probs must be (N, K), got shape {probs.shape}")
    logs = np.log(np.where(probs > 0, probs, 1.0))
    return np.maximum(-(probs * logs).sum(axis=1), 0.0)


def binary_entropy(probs: np.ndarray) -> np.ndarray:
    """Entropy of each label's own ``[1 - p, p]`` for ``(N, K)`` per-label probabilities, in nats, ``(N, K)``
    (0 for a certain label, ``ln 2`` at ``p = 0.5``)."""
    p = np.asarray(probs, dtype=np.float64)
    q = 1.0 - p
    logs_p, logs_q = np.log(np.where(p > 0, p, 1.0)), np.log(np.where(q > 0, q, 1.0))
    return np.maximum(-(p * logs_p + q * logs_q), 0.0)


def mean_binary_entropy(probs: np.ndarray) -> np.ndarray:
    """A multi-label image's uncertainty: the mean over its labels of each label's :func:`binary_entropy`, in
    nats, ``(N,)`` (0 when every label is certain, ``ln 2`` when every label is a coin toss).

    For one label it is exactly a binary model's predictive entropy, so both task types rank and flag cases by
    the same quantity.
    """
    return binary_entropy(probs).mean(axis=1)


@dataclass
class PassSummary:
    """Summary of N stochastic passes over N images.

    Attributes:
        probs: ``(N, K)`` mean probability over the passes.
        predicted: ``(N,)`` predicted class of the mean (argmax, or the binary threshold); multi-label:
            ``(N, K)`` per-label decisions of the mean.
        entropy: ``(N,)`` predictive entropy of ``probs`` in nats; multi-label: the mean over labels of each
            label's binary predictive entropy (see :func:`summarize_label_passes`).
        std: ``(N,)`` standard deviation over the passes of the predicted class's probability; multi-label:
            the mean over labels of each label's standard deviation.
        label_std: multi-label only: ``(N, K)`` each label's standard deviation over the passes (None for a
            single-label model).
    """

    probs: np.ndarray
    predicted: np.ndarray
    entropy: np.ndarray
    std: np.ndarray
    label_std: np.ndarray | None = None


def summarize_passes(pass_probs: np.ndarray, decision: Decision | None = None) -> PassSummary:
    """Mean, predicted class, predictive entropy and spread of ``(P, N, K)`` per-pass probabilities.

    The mean and the spread are taken relative to the first pass (``p0 + mean(p - p0)``): mathematically the
    same, and exact when the passes agree, so one pass reproduces the plain prediction bit for bit and
    identical passes have a spread of exactly 0. The predicted class is ``decision``'s (default: the argmax).
    """
    probs, deviation = _mean_of_passes(pass_probs)
    predicted = (decision or Decision()).decide(probs)
    rows = np.arange(probs.shape[0])
    std = deviation[:, rows, predicted].std(axis=0)
    return PassSummary(probs=probs, predicted=predicted, entropy=predictive_entropy(probs), std=std)


def summarize_label_passes(pass_probs: np.ndarray, decision: MultilabelDecision) -> PassSummary:
    """Mean, per-label decisions, uncertainty and spread of a multi-label model's ``(P, N, K)`` per-pass sigmoid
    probabilities (TTA averages the views' probabilities; the mean is taken as in :func:`summarize_passes`).

    The uncertainty of an image is :func:`mean_binary_entropy` of its labels' mean probabilities: for one label
    it is exactly a binary model's predictive entropy (so the referral of both task types ranks by the same
    quantity), and, unlike the spread over the passes, it also counts a label whose passes agree on a
    probability near its threshold (aleatoric doubt), which the spread scores 0.
    """
    probs, deviation = _mean_of_passes(pass_probs)
    label_std = deviation.std(axis=0)
    return PassSummary(
        probs=probs,
        predicted=decision.decide(probs),
        entropy=mean_binary_entropy(probs),
        std=label_std.mean(axis=1),
        label_std=label_std,
    )


def _mean_of_passes(pass_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, deviation)``: the mean over the passes, taken relative to the first pass, and every pass's
    deviation from that first pass ``(P, N, K)``."""
    pass_probs = np.asarray(pass_probs, dtype=np.float64)
    if pass_probs.ndim != 3 or pass_probs.shape[0] < 1:
        raise ValueError(f"pass probabilities must be (passes, N, K), got shape {pass_probs.shape}")
    deviation = pass_probs - pass_probs[0]
    return pass_probs[0] + deviation.mean(axis=0), deviation
