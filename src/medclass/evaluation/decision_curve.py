"""Decision curve analysis (Vickers & Elkin, "Decision curve analysis: a novel method for evaluating prediction
models", Medical Decision Making 26(6), 2006).

A threshold probability ``pt`` says how a clinician weighs a missed case against an unnecessary intervention:
treating when the risk is at least ``pt`` means one true positive is worth ``(1 - pt) / pt`` false positives.
The net benefit of treating the images the model scores at or above ``pt`` is

    NB(pt) = TP / N - FP / N * pt / (1 - pt)

(true positives credited, false positives charged at the exchange rate of ``pt``). "Treat all" has
``NB = prevalence - (1 - prevalence) * pt / (1 - pt)``, "treat none" has ``NB = 0``. A model is worth using at
``pt`` only where its net benefit is above both.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from medclass.inference.decision import at_or_above

__all__ = ["DEFAULT_THRESHOLDS", "decision_curve", "net_benefit", "treat_all_net_benefit"]

# The grid of the issue: 0.01 to 0.99 in steps of 0.01 (pt = 0 and 1 would make the exchange rate 0 or infinite).
DEFAULT_THRESHOLDS = np.round(np.arange(1, 100) / 100.0, 2)


def _check(y_positive: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_positive, dtype=bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape or y.size == 0:
        raise ValueError(f"y_positive {y.shape} and scores {s.shape} must be non-empty and of equal length")
    return y, s


def _check_thresholds(thresholds: ArrayLike) -> np.ndarray:
    t = np.asarray(thresholds, dtype=np.float64).ravel()
    if t.size == 0 or np.any(t <= 0.0) or np.any(t >= 1.0):
        raise ValueError("thresholds must be a non-empty list of probabilities strictly between 0 and 1")
    return t


def net_benefit(y_positive: ArrayLike, scores: ArrayLike, thresholds: ArrayLike) -> np.ndarray:
    """Net benefit of treating the images whose score is at or above each threshold.

    Args:
        y_positive: ``(N,)`` booleans, True for the positive class.
        scores: ``(N,)`` predicted probability of the positive class.
        thresholds: threshold probabilities in ``(0, 1)``.

    Returns:
        ``NB(pt) = TP/N - FP/N * pt/(1-pt)`` per threshold.

    Example:
        >>> net_benefit([1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1], [0.5]).tolist()
        [0.0]
    """
    y, s = _check(y_positive, scores)
    t = _check_thresholds(thresholds)
    treated = np.stack([at_or_above(s, pt) for pt in t])  # (T, N)
    tp = (treated & y).sum(axis=1) / y.size
    fp = (treated & ~y).sum(axis=1) / y.size
    return tp - fp * t / (1.0 - t)


def treat_all_net_benefit(prevalence: float, thresholds: ArrayLike) -> np.ndarray:
    """Net benefit of treating everyone: ``prevalence - (1 - prevalence) * pt / (1 - pt)``."""
    t = _check_thresholds(thresholds)
    return prevalence - (1.0 - prevalence) * t / (1.0 - t)


def decision_curve(
    y_positive: ArrayLike,
    scores: ArrayLike,
    thresholds: ArrayLike = DEFAULT_THRESHOLDS,
    operating_threshold: float | None = None,
) -> dict[str, Any]:
    """The decision curve of a binary model against treat-all and treat-none.

    Args:
        y_positive: ``(N,)`` booleans, True for the positive class.
        scores: ``(N,)`` predicted probability of the positive class (after the model's temperature).
        thresholds: threshold probabilities (default 0.01, 0.02, ..., 0.99).
        operating_threshold: the model's own threshold, marked under ``operating_point``.

    Returns:
        ``{"thresholds", "model", "treat_all", "treat_none", "prevalence", "n", "useful_thresholds",
        "operating_point"}``: ``useful_thresholds`` is ``[lowest, highest]`` threshold where the model's net
        benefit is above both treat-all and treat-none (None when there is none); ``operating_point`` is
        ``{"threshold", "model", "treat_all", "useful"}`` at ``operating_threshold`` (None without one).
    """
    y, s = _check(y_positive, scores)
    t = _check_thresholds(thresholds)
    prevalence = float(y.mean())
    model = net_benefit(y, s, t)
    treat_all = treat_all_net_benefit(prevalence, t)
    useful = model > np.maximum(treat_all, 0.0)
    point = None
    if operating_threshold is not None:
        pt = min(max(float(operating_threshold), 1e-6), 1.0 - 1e-6)
        at_model = float(net_benefit(y, s, [pt])[0])
        at_all = float(treat_all_net_benefit(prevalence, [pt])[0])
        point = {
            "threshold": float(operating_threshold),
            "model": at_model,
            "treat_all": at_all,
            "useful": bool(at_model > max(at_all, 0.0)),
        }
    return {
        "thresholds": t.tolist(),
        "model": model.tolist(),
        "treat_all": treat_all.tolist(),
        "treat_none": [0.0] * t.size,
        "prevalence": prevalence,
        "n": int(y.size),
        "useful_thresholds": [float(t[useful].min()), float(t[useful].max())] if useful.any() else None,
        "operating_point": point,
    }
