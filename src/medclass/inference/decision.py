"""The decision rule: logits to probabilities (temperature, softmax or one-logit sigmoid) and probabilities to
a class (the stored binary threshold, else the argmax). Every prediction, metric and explanation of medclass
applies these two functions, so a number reported at "the threshold" is the decision ``predict`` makes.

Pure numpy: no torch, cheap to import (the metric functions of ``medclass.evaluation`` use it).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def probabilities(logits: ArrayLike, temperature: float = 1.0) -> np.ndarray:
    """Class probabilities of ``(N, K)`` logits at ``temperature``.

    ``K >= 2``: a numerically stable softmax of ``logits / temperature``. ``K == 1`` (a binary sigmoid head):
    ``[1 - sigmoid(z / T), sigmoid(z / T)]``, so the positive class is column 1 as for a two-logit head.

    Raises:
        ValueError: ``logits`` is not 2-D, or ``temperature`` is not a positive finite number.
    """
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"logits must be (N, K), got shape {z.shape}")
    t = float(temperature)
    if not np.isfinite(t) or t <= 0:
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
    scaled = z / t
    if scaled.shape[1] == 1:
        positive = 1.0 / (1.0 + np.exp(-scaled[:, 0]))
        return np.stack([1.0 - positive, positive], axis=1)
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def check_threshold(threshold: float | None, n_classes: int) -> float | None:
    """``threshold`` as a float (None stays None).

    Raises:
        ValueError: a threshold for a task that is not binary, or one that is not finite.
    """
    if threshold is None:
        return None
    if n_classes != 2:
        raise ValueError(
            f"a decision threshold applies to binary problems only; probs has {n_classes} columns "
            "(multi-class predictions use the argmax)"
        )
    value = float(threshold)
    if not np.isfinite(value):
        raise ValueError(f"threshold must be a finite number, got {threshold!r}")
    return value


def decide(probs: ArrayLike, threshold: float | None = None) -> np.ndarray:
    """Predicted class index per row of ``(N, K)`` probabilities.

    Binary with a threshold: class 1 when ``probs[:, 1] >= threshold``, else 0. Otherwise the argmax (ties go to
    the lower index, as :func:`numpy.argmax` does).

    Raises:
        ValueError: ``probs`` is not 2-D, or a threshold with ``K != 2``.

    Example:
        >>> decide([[0.7, 0.3], [0.4, 0.6]], threshold=0.25).tolist()
        [1, 1]
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"probs must be (N, K), got shape {p.shape}")
    t = check_threshold(threshold, p.shape[1])
    if t is None:
        return np.argmax(p, axis=1).astype(np.int64)
    return (p[:, 1] >= t).astype(np.int64)
