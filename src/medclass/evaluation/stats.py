"""Statistical tests for comparing two classifiers evaluated on the same images."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import binomtest, chi2

__all__ = ["EXACT_BELOW", "mcnemar", "mcnemar_test"]

# Below this many discordant pairs the chi-square approximation is poor and the exact binomial test is used
# (the usual rule of thumb, as in statsmodels' mcnemar; Fagerland et al., BMC Med Res Methodol 2013).
EXACT_BELOW = 25


def _check_correct(values: ArrayLike, name: str) -> np.ndarray:
    raw = np.asarray(values)
    if raw.ndim != 1:
        raise ValueError(f"{name} must have shape (N,) (one entry per image), got shape {raw.shape}")
    if not np.all(np.isin(raw, (0, 1))):
        raise ValueError(f"{name} must hold booleans (True = image classified correctly)")
    return raw.astype(bool)


def mcnemar_test(correct_a: ArrayLike, correct_b: ArrayLike) -> dict[str, Any]:
    """McNemar's test of equal error rates for two classifiers on the same images.

    Only the discordant images count: ``b`` = A correct and B wrong, ``c`` = A wrong and B correct.
    With ``b + c < 25`` the exact two-sided binomial test of ``b ~ Binomial(b + c, 1/2)`` is used
    (``statistic`` = ``min(b, c)``); otherwise the chi-square test with continuity correction,
    ``statistic = (|b - c| - 1)^2 / (b + c)`` on 1 degree of freedom (Edwards, 1948).

    Args:
        correct_a: booleans ``(N,)``, True where model A classified image ``i`` correctly.
        correct_b: booleans ``(N,)`` for model B on the *same* images, in the same order.

    Returns:
        ``{"b", "c", "statistic", "p_value", "method"}``; ``method`` is ``"exact binomial"`` or
        ``"chi-square with continuity correction"``. With no discordant image, ``p_value`` is 1.

    Raises:
        ValueError: arrays not 1-D, of different shapes (both named) or not boolean.

    Example:
        >>> r = mcnemar_test([1] * 10 + [0] * 2, [0] * 10 + [1] * 2)
        >>> r["b"], r["c"], round(r["p_value"], 4), r["method"]
        (10, 2, 0.0386, 'exact binomial')
    """
    a = _check_correct(correct_a, "correct_a")
    b_arr = _check_correct(correct_b, "correct_b")
    if a.shape != b_arr.shape:
        raise ValueError(
            f"correct_a and correct_b must cover the same images, got shapes {a.shape} and {b_arr.shape}"
        )
    b = int(np.sum(a & ~b_arr))
    c = int(np.sum(~a & b_arr))
    n = b + c
    if n < EXACT_BELOW:
        p_value = 1.0 if n == 0 else float(binomtest(b, n, 0.5, alternative="two-sided").pvalue)
        return {"b": b, "c": c, "statistic": float(min(b, c)), "p_value": p_value, "method": "exact binomial"}
    statistic = max(abs(b - c) - 1.0, 0.0) ** 2 / n
    return {
        "b": b,
        "c": c,
        "statistic": float(statistic),
        "p_value": float(chi2.sf(statistic, df=1)),
        "method": "chi-square with continuity correction",
    }


# The name used in docs/ARCHITECTURE.md.
mcnemar = mcnemar_test
