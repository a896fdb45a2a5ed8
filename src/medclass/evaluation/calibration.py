"""Calibration: expected calibration error, reliability curves and temperature scaling.

Top-label calibration as in Guo et al., "On Calibration of Modern Neural Networks" (ICML 2017): the
confidence of an image is its largest probability, it is correct when the argmax equals the true class, and
confidences fall into ``M = n_bins`` equal-width bins ``(0, 1/M], (1/M, 2/M], ... ((M-1)/M, 1]`` (a confidence
of exactly 0 goes into the first bin). Temperature scaling divides the logits by one scalar ``T > 0`` fitted
by minimising the negative log-likelihood on a held-out split (validation, never test).

The calibration slope and intercept (Cox, Biometrika 45, 1958; Van Calster et al., "A calibration hierarchy for
risk models", J Clin Epidemiol 74, 2016) are the logistic recalibration of the predicted log-odds ``lp`` on a new
set: the slope ``b`` of ``logit P(y) = a + b * lp`` (1: the spread of the predictions is right; below 1: they are
too extreme, over-confident; above 1: too timid) and the calibration-in-the-large intercept ``a`` of
``logit P(y) = a + lp`` (0: the predictions are right on average; below 0: too high).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import minimize, minimize_scalar
from scipy.special import expit, logit, logsumexp

from medclass.evaluation.metrics import check_classification_inputs
from medclass.inference.decision import decide

__all__ = [
    "calibration_slope_intercept",
    "expected_calibration_error",
    "fit_label_temperatures",
    "fit_temperature",
    "reliability_curve",
]

# Search range of log T for fit_temperature: T in [0.01, 100] covers every temperature seen in practice
# (Guo et al. report fitted T between about 1 and 3 for modern CNNs).
_LOG_T_BOUNDS = (np.log(1e-2), np.log(1e2))


def _check_n_bins(n_bins: int) -> int:
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    return int(n_bins)


def _binned(y_true: ArrayLike, probs: ArrayLike, n_bins: int) -> tuple[np.ndarray, ...]:
    """Bin edges, then per bin: number of images, sum of confidences, number correct."""
    y, p = check_classification_inputs(y_true, probs)
    if p.min() < 0.0 or p.max() > 1.0:
        raise ValueError(
            f"probs of shape {p.shape} must be probabilities in [0, 1] (apply a softmax to logits)"
        )
    n_bins = _check_n_bins(n_bins)
    confidence = p.max(axis=1)
    correct = (decide(p) == y).astype(float)  # top-label calibration: the argmax decision
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # searchsorted(side="left") puts a confidence equal to an edge into the bin that edge closes: (lo, hi].
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    counts = np.bincount(index, minlength=n_bins)
    conf_sum = np.bincount(index, weights=confidence, minlength=n_bins)
    correct_sum = np.bincount(index, weights=correct, minlength=n_bins)
    return edges, counts, conf_sum, correct_sum


def expected_calibration_error(y_true: ArrayLike, probs: ArrayLike, n_bins: int = 15) -> float:
    """Top-label expected calibration error.

    ``ECE = sum_b (n_b / N) * |accuracy_b - mean confidence_b|`` over equal-width confidence bins.

    Args:
        y_true: true class indices, shape ``(N,)``.
        probs: probabilities, shape ``(N, K)``, values in ``[0, 1]``.
        n_bins: number of equal-width bins on ``[0, 1]``.

    Returns:
        The ECE in ``[0, 1]``.

    Raises:
        ValueError: bad shapes (named), values outside ``[0, 1]`` or ``n_bins < 1``.

    Example:
        >>> expected_calibration_error([0, 1], [[0.9, 0.1], [0.8, 0.2]], n_bins=10)
        0.45
    """
    _, counts, conf_sum, correct_sum = _binned(y_true, probs, n_bins)
    return float(np.abs(correct_sum - conf_sum).sum() / counts.sum())


def reliability_curve(y_true: ArrayLike, probs: ArrayLike, n_bins: int = 15) -> dict[str, Any]:
    """Accuracy against mean confidence per equal-width confidence bin (the data of a reliability diagram).

    Returns:
        ``{"bin_edges": [n_bins + 1 floats], "confidence": [...], "accuracy": [...], "counts": [...]}``;
        ``confidence`` and ``accuracy`` are ``None`` for an empty bin.

    Raises:
        ValueError: as :func:`expected_calibration_error`.
    """
    edges, counts, conf_sum, correct_sum = _binned(y_true, probs, n_bins)
    return {
        "bin_edges": edges.tolist(),
        "confidence": [float(s / c) if c else None for s, c in zip(conf_sum, counts, strict=True)],
        "accuracy": [float(s / c) if c else None for s, c in zip(correct_sum, counts, strict=True)],
        "counts": counts.astype(int).tolist(),
    }


def _check_logits(logits: ArrayLike) -> np.ndarray:
    z = np.asarray(logits, dtype=float)
    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] < 2:
        raise ValueError(f"logits must have shape (N, K) with N >= 1 and K >= 2, got shape {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError(f"logits of shape {z.shape} contain NaN or infinite values")
    return z


def fit_temperature(logits: ArrayLike, y_true: ArrayLike) -> float:
    """Temperature ``T > 0`` minimising the mean negative log-likelihood of ``softmax(logits / T)``.

    The NLL is minimised over ``log T`` (bounded Brent search, ``T`` in ``[0.01, 100]``), so ``T`` stays
    positive. ``T > 1`` softens over-confident predictions; the argmax, hence accuracy, does not change.

    Args:
        logits: raw model outputs (before softmax), shape ``(N, K)``.
        y_true: true class indices, shape ``(N,)``.

    Returns:
        The fitted temperature as a float.

    Raises:
        ValueError: bad shapes (named in the message) or labels outside ``0..K-1``.
    """
    z = _check_logits(logits)
    y, _ = check_classification_inputs(y_true, z)
    true_logit = z[np.arange(z.shape[0]), y]

    def nll(log_t: float) -> float:
        inv_t = np.exp(-log_t)
        return float(np.mean(logsumexp(z * inv_t, axis=1) - true_logit * inv_t))

    result = minimize_scalar(nll, bounds=_LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-6})
    return float(np.exp(result.x))


def fit_label_temperatures(logits: ArrayLike, y_true: ArrayLike) -> list[tuple[float, str | None]]:
    """One temperature per label of a multi-label head: ``T_k`` minimising the binary cross-entropy of
    ``sigmoid(logit_k / T_k)`` on the label's known values (NaN targets, uncertain, are left out).

    The fitter is :func:`fit_temperature` itself: ``sigmoid(z / T)`` is the second column of
    ``softmax([0, z] / T)``, so the softmax NLL of the two-column logits ``[0, z]`` is the label's binary
    cross-entropy and one bounded search serves both task types.

    Args:
        logits: raw ``(N, K)`` outputs (before the sigmoid).
        y_true: ``(N, K)`` targets: 1 positive, 0 negative, NaN uncertain.

    Returns:
        Per label ``(temperature, None)``, or ``(1.0, reason)`` for a label that cannot be fitted (no known
        value, only positive or only negative images, or separable scores, whose cross-entropy has no
        minimum): the temperature is kept and the reason says why.

    Raises:
        ValueError: logits and targets of different shapes, or logits that are not finite.
    """
    z = np.asarray(logits, dtype=float)
    y = np.asarray(y_true, dtype=float)
    if z.ndim != 2 or z.shape != y.shape or z.shape[0] == 0:
        raise ValueError(f"logits and y_true must both be (N, K) with N >= 1, got {z.shape} and {y.shape}")
    fitted: list[tuple[float, str | None]] = []
    for k in range(z.shape[1]):
        known = ~np.isnan(y[:, k])
        truth = y[known, k] == 1
        if not truth.any() or truth.all():
            what = (
                f"only {'positive' if truth.any() else 'negative'} images"
                if known.any()
                else "no known value"
            )
            fitted.append((1.0, f"{what}: a temperature cannot be fitted, kept at 1"))
            continue
        scores = z[known, k]
        if scores[truth].min() > scores[~truth].max():
            # Every positive above every negative: the cross-entropy keeps falling as T -> 0 and has no minimum;
            # the search would stop at its bound (T = 0.01) and turn every probability into 0 or 1.
            fitted.append(
                (
                    1.0,
                    "separable (every positive above every negative): no temperature to fit, kept at 1",
                )
            )
            continue
        two_columns = np.stack([np.zeros(int(known.sum())), scores], axis=1)
        fitted.append((fit_temperature(two_columns, truth.astype(np.int64)), None))
    return fitted


def label_calibration_error(truth: ArrayLike, probs: ArrayLike, n_bins: int = 15) -> float | None:
    """The ECE of one label: :func:`expected_calibration_error` of its own ``[absent, present]`` probabilities
    ``probs`` against ``truth`` (1/0, NaN uncertain: left out); None without a known value."""
    y = np.asarray(truth, dtype=float)
    p = np.asarray(probs, dtype=float)
    known = ~np.isnan(y)
    if not known.any():
        return None
    present = p[known]
    return expected_calibration_error(
        (y[known] == 1).astype(np.int64), np.stack([1 - present, present], axis=1), n_bins
    )


# Predicted probabilities are clipped to [1e-6, 1 - 1e-6] before their log-odds are taken, so that a saturated
# prediction (probability 1.0 in float32) has a finite log-odds of about 13.8.
_PROB_CLIP = 1e-6


def _logistic_fit(outcome: np.ndarray, lp: np.ndarray, free_slope: bool) -> np.ndarray:
    """Maximum-likelihood ``(a, b)`` of ``logit P(outcome) = a + b * lp`` (``b`` fixed at 1 unless ``free_slope``),
    by scipy's BFGS with the analytic gradient."""

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        a, b = (params[0], params[1]) if free_slope else (params[0], 1.0)
        eta = a + b * lp
        # log(1 + e^eta) - y * eta, the negative log-likelihood, computed stably.
        nll = float(np.sum(np.logaddexp(0.0, eta) - outcome * eta))
        residual = expit(eta) - outcome
        grad = [residual.sum(), (residual * lp).sum()] if free_slope else [residual.sum()]
        return nll, np.asarray(grad)

    start = np.array([0.0, 1.0]) if free_slope else np.array([0.0])
    return minimize(loss, start, jac=True, method="BFGS").x


def calibration_slope_intercept(
    y_true: ArrayLike, probs: ArrayLike, positive_index: int | None = None
) -> dict[str, Any]:
    """Calibration slope and intercept (logistic recalibration) of predictions on a labelled set.

    Binary (``positive_index`` given): the outcome is "is the positive class" and ``lp`` the log-odds of the
    positive class's probability. Otherwise (multi-class): top-label, as the ECE: the outcome is "the argmax is
    right" and ``lp`` the log-odds of the top probability.

    Args:
        y_true: true class indices ``(N,)``.
        probs: probabilities ``(N, K)`` (after the model's temperature).
        positive_index: binary: the column of the declared positive class.

    Returns:
        ``{"slope", "intercept", "kind"}`` (``kind``: ``positive class`` or ``top label``); slope and intercept
        are None when the outcome takes a single value (all positive, or all right) and cannot be regressed.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> p = rng.uniform(0.02, 0.98, 20000)
        >>> y = (rng.uniform(size=p.size) < p).astype(int)
        >>> fit = calibration_slope_intercept(y, np.c_[1 - p, p], positive_index=1)
        >>> round(fit["slope"], 1), round(fit["intercept"], 1)
        (1.0, 0.0)
    """
    y, p = check_classification_inputs(y_true, probs)
    if positive_index is not None:
        outcome, score, kind = (y == positive_index).astype(float), p[:, positive_index], "positive class"
    else:
        outcome, score, kind = (decide(p) == y).astype(float), p.max(axis=1), "top label"
    if outcome.min() == outcome.max():
        return {"slope": None, "intercept": None, "kind": kind}
    lp = logit(np.clip(score, _PROB_CLIP, 1.0 - _PROB_CLIP))
    slope = float(_logistic_fit(outcome, lp, free_slope=True)[1])
    intercept = float(_logistic_fit(outcome, lp, free_slope=False)[0])
    return {"slope": slope, "intercept": intercept, "kind": kind}
