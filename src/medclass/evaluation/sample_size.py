"""How precise each headline figure is, and how many test images would make it twice as precise.

The half-width of a confidence interval of a proportion (accuracy, sensitivity, ...) shrinks with the square
root of the number of cases: ``1.96 * sqrt(p (1 - p) / n)`` (the normal approximation), and the bootstrap
intervals medclass reports behave the same way. Halving the width therefore needs about four times the cases
(``n_to_halve = 4 n``); for a sensitivity or specificity the cases are the images of that class, for AUROC
(whose variance also falls as ``1/n`` at a fixed prevalence, Hanley & McNeil, Radiology 143, 1982) all images.
"""

from __future__ import annotations

from typing import Any

from scipy import stats

__all__ = ["HALVING_FACTOR", "HALVING_RULE", "precision_of"]

# CI width proportional to 1/sqrt(n): width/2 needs n*4.
HALVING_FACTOR = 4
HALVING_RULE = (
    "CI width shrinks as 1/sqrt(n) (normal approximation of a proportion's standard error), so halving it "
    "needs about 4x the cases counted (the images of the class for sensitivity/specificity, all images otherwise)"
)


def precision_of(interval: dict[str, Any] | None, n_cases: int) -> dict[str, Any] | None:
    """The CI width of one figure and the cases that would halve it.

    Args:
        interval: ``{"value", "ci_low", "ci_high"}`` (a bootstrap interval), or None.
        n_cases: the cases the figure is computed from.

    Returns:
        ``{"value", "ci_low", "ci_high", "ci_width", "n", "n_to_halve", "more_needed"}``; None when the
        interval or its bounds are missing.

    Example:
        >>> precision_of({"value": 0.9, "ci_low": 0.85, "ci_high": 0.95}, 120)["n_to_halve"]
        480
    """
    if not interval or interval.get("ci_low") is None or interval.get("ci_high") is None or n_cases < 1:
        return None
    n_half = HALVING_FACTOR * int(n_cases)
    result = {
        "value": interval.get("value"),
        "ci_low": interval["ci_low"],
        "ci_high": interval["ci_high"],
        "ci_width": float(interval["ci_high"] - interval["ci_low"]),
        "n": int(n_cases),
        "n_to_halve": n_half,
        "more_needed": n_half - int(n_cases),
    }
    value = interval.get("value")
    if result["ci_width"] == 0.0 and value in (0.0, 1.0):
        # Every case agrees, so every resample does: the bootstrap interval has no width and understates the
        # uncertainty. The exact (Clopper-Pearson) interval of 0 or n successes out of n says how much.
        bound = (
            float(stats.beta.ppf(0.025, n_cases, 1))
            if value == 1.0
            else float(stats.beta.ppf(0.975, 1, n_cases))
        )
        exact = (bound, 1.0) if value == 1.0 else (0.0, bound)
        result["exact_ci"] = list(exact)
        result["note"] = (
            f"all {n_cases} cases agree, so the bootstrap CI has no width; the exact (Clopper-Pearson) 95% CI is "
            f"{exact[0]:.3f} to {exact[1]:.3f}"
        )
    return result
