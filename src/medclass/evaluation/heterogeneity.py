"""Random-effects pooling of one measure across sites (DerSimonian & Laird, "Meta-analysis in clinical trials",
Controlled Clinical Trials 7, 1986), with the heterogeneity statistics of Higgins & Thompson ("Quantifying
heterogeneity in a meta-analysis", Statistics in Medicine 21, 2002) and the prediction interval of Higgins,
Thompson & Spiegelhalter (JRSS A 172, 2009).

Written here rather than imported: the method is a dozen lines of arithmetic, and the maintained Python packages
that hold it (statsmodels' ``combine_effects``) would add a large dependency for them; the tests check it against
the published BCG-vaccine example that R's metafor reproduces.

Proportions (accuracy, sensitivity, specificity) are pooled on the logit scale, where the sampling distribution
is closer to normal, with a continuity correction of 0.5 for a site at 0% or 100%, and transformed back.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats
from scipy.special import expit, logit

__all__ = ["dersimonian_laird", "pool_proportions"]


def dersimonian_laird(estimates: ArrayLike, variances: ArrayLike, confidence: float = 0.95) -> dict[str, Any]:
    """The DerSimonian-Laird random-effects pooled estimate of ``k`` site estimates.

    With inverse-variance weights ``w = 1/v``: ``Q = sum w (y - y_fixed)^2``, the between-site variance
    ``tau^2 = max(0, (Q - (k-1)) / (sum w - sum w^2 / sum w))``, the pooled estimate with weights
    ``1 / (v + tau^2)``, ``I^2 = max(0, (Q - (k-1)) / Q)`` (the share of the spread not due to chance).

    Args:
        estimates: ``(k,)`` the measure at each site (``k >= 2``).
        variances: ``(k,)`` its sampling variance at each site (> 0).
        confidence: coverage of the intervals.

    Returns:
        ``{"k", "estimate", "se", "ci_low", "ci_high", "tau2", "i2", "q", "q_df", "q_p",
        "prediction_low", "prediction_high", "weights"}``; the prediction interval (where a new site's value
        is expected, ``t`` with ``k-2`` degrees of freedom) is None for ``k < 3``; ``weights`` are the
        random-effects weights as shares summing to 1.

    Raises:
        ValueError: fewer than two sites, unequal lengths, or a variance that is not positive.
    """
    y = np.asarray(estimates, dtype=np.float64).ravel()
    v = np.asarray(variances, dtype=np.float64).ravel()
    if y.shape != v.shape or y.size < 2:
        raise ValueError(f"need at least 2 estimates with one variance each, got {y.size} and {v.size}")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(v)) and np.all(v > 0)):
        raise ValueError("estimates must be finite and variances finite and positive")
    k = y.size
    w = 1.0 / v
    fixed = np.sum(w * y) / np.sum(w)
    q = float(np.sum(w * (y - fixed) ** 2))
    df = k - 1
    c = np.sum(w) - np.sum(w**2) / np.sum(w)
    tau2 = max(0.0, (q - df) / c)
    w_re = 1.0 / (v + tau2)
    pooled = float(np.sum(w_re * y) / np.sum(w_re))
    se = float(np.sqrt(1.0 / np.sum(w_re)))
    z = stats.norm.ppf(0.5 + confidence / 2.0)
    prediction = (None, None)
    if k >= 3:
        half = stats.t.ppf(0.5 + confidence / 2.0, k - 2) * np.sqrt(tau2 + se**2)
        prediction = (pooled - half, pooled + half)
    return {
        "k": k,
        "estimate": pooled,
        "se": se,
        "ci_low": float(pooled - z * se),
        "ci_high": float(pooled + z * se),
        "tau2": float(tau2),
        "i2": float(max(0.0, (q - df) / q)) if q > 0 else 0.0,
        "q": q,
        "q_df": df,
        "q_p": float(stats.chi2.sf(q, df)),
        "prediction_low": None if prediction[0] is None else float(prediction[0]),
        "prediction_high": None if prediction[1] is None else float(prediction[1]),
        "weights": (w_re / np.sum(w_re)).tolist(),
    }


def pool_proportions(successes: ArrayLike, totals: ArrayLike, confidence: float = 0.95) -> dict[str, Any]:
    """Random-effects pooled proportion of ``k`` sites (e.g. accuracy: correct images out of images).

    Each site's proportion ``p = x / n`` is pooled as ``logit(p)`` with variance ``1/x + 1/(n - x)`` (0.5 added
    to ``x`` and ``n - x`` when either is 0) by :func:`dersimonian_laird`; the estimate, CI and prediction
    interval are transformed back to proportions, ``tau2`` stays on the logit scale.

    Returns:
        The :func:`dersimonian_laird` dict on the proportion scale, plus ``scale: "logit"`` and the sites'
        ``proportions``.

    Raises:
        ValueError: fewer than two sites, a total below 1 or successes outside ``0..n``.
    """
    x = np.asarray(successes, dtype=np.float64).ravel()
    n = np.asarray(totals, dtype=np.float64).ravel()
    if x.shape != n.shape or np.any(n < 1) or np.any(x < 0) or np.any(x > n):
        raise ValueError(
            "successes and totals must have one entry per site with 0 <= successes <= totals >= 1"
        )
    edge = (x == 0) | (x == n)
    xc, nc = x + 0.5 * edge, n + 1.0 * edge
    result = dersimonian_laird(logit(xc / nc), 1.0 / xc + 1.0 / (nc - xc), confidence)
    for key in ("estimate", "ci_low", "ci_high", "prediction_low", "prediction_high"):
        if result[key] is not None:
            result[key] = float(expit(result[key]))
    result["se"] = None  # on the logit scale only; the CI is the interval to read
    result["scale"] = "logit"
    result["proportions"] = (x / n).tolist()
    return result
