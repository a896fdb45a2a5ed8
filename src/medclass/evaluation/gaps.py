"""The difference of a per-image rate between two independent sets of images (two sites, two subgroups), with a
percentile-bootstrap confidence interval: each resample draws each set's images with replacement on its own, so
the interval reflects the sampling error of both (Efron & Tibshirani 1993, ch. 13)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from medclass.evaluation.bootstrap import BOOTSTRAP_SEED

__all__ = ["rate_difference"]


def rate_difference(
    outcomes_a: ArrayLike,
    outcomes_b: ArrayLike,
    n_resamples: int = 2000,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """``mean(b) - mean(a)`` of two sets of 0/1 outcomes (e.g. "the image was classified right"), with its CI.

    Args:
        outcomes_a: ``(n_a,)`` outcomes of the reference set (e.g. the internal test split).
        outcomes_b: ``(n_b,)`` outcomes of the compared set (e.g. an external site).
        n_resamples: bootstrap resamples.
        seed: seed of the generator (the same inputs give the same interval).
        confidence: coverage of the interval.

    Returns:
        ``{"a", "b", "difference", "ci_low", "ci_high", "excludes_zero", "n_a", "n_b"}``.

    Raises:
        ValueError: an empty set.

    Example:
        >>> d = rate_difference([1] * 90 + [0] * 10, [1] * 60 + [0] * 40)
        >>> round(d["difference"], 2), d["excludes_zero"]
        (-0.3, True)
    """
    a = np.asarray(outcomes_a, dtype=np.float64).ravel()
    b = np.asarray(outcomes_b, dtype=np.float64).ravel()
    if a.size == 0 or b.size == 0:
        raise ValueError(f"both sets need at least one image, got {a.size} and {b.size}")
    rng = np.random.default_rng(seed)
    mean_a, mean_b = _resampled_means(rng, a, n_resamples), _resampled_means(rng, b, n_resamples)
    alpha = 1.0 - confidence
    low, high = np.quantile(mean_b - mean_a, [alpha / 2.0, 1.0 - alpha / 2.0])
    return {
        "a": float(a.mean()),
        "b": float(b.mean()),
        "difference": float(b.mean() - a.mean()),
        "ci_low": float(low),
        "ci_high": float(high),
        "excludes_zero": bool(low > 0.0 or high < 0.0),
        "n_a": int(a.size),
        "n_b": int(b.size),
    }


def _resampled_means(rng: np.random.Generator, values: np.ndarray, n_resamples: int) -> np.ndarray:
    """Means of ``n_resamples`` resamples with replacement, drawn in chunks of about a million cells."""
    chunk = max(1, 1_000_000 // values.size)
    means = [
        values[rng.integers(0, values.size, size=(min(chunk, n_resamples - start), values.size))].mean(axis=1)
        for start in range(0, n_resamples, chunk)
    ]
    return np.concatenate(means)
