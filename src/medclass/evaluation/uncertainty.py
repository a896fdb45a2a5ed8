"""The accuracy-vs-referral curve: how accurate a model is on the cases it is sure of. Pure functions (arrays
in, numbers out); the uncertainty itself (MC dropout, TTA, predictive entropy) comes from
``medclass.inference``.

- Referral (:func:`referral_curve`): refer the most uncertain cases to a human and measure the accuracy on
  the rest, for every number of referred cases.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def referral_curve(correct: np.ndarray, uncertainty: np.ndarray) -> pd.DataFrame:
    """Accuracy of the cases kept when the ``k`` most uncertain are referred, for ``k = 0 .. N-1``.

    Ties in ``uncertainty`` are broken by input order (stable), so the curve is deterministic.

    Args:
        correct: ``(N,)`` whether each prediction was right.
        uncertainty: ``(N,)`` e.g. predictive entropy; higher is referred first.

    Returns:
        ``n_referred, fraction_referred, n_kept, accuracy, uncertainty_cutoff`` (the uncertainty of the last
        referred case: flagging cases above it refers about that many; NaN when none is referred).
    """
    correct = np.asarray(correct, dtype=bool)
    uncertainty = np.asarray(uncertainty, dtype=np.float64)
    if correct.ndim != 1 or correct.shape != uncertainty.shape or len(correct) == 0:
        raise ValueError(
            f"correct and uncertainty must be equal-length, non-empty 1-D arrays, "
            f"got shapes {correct.shape} and {uncertainty.shape}"
        )
    n = len(correct)
    order = np.argsort(-uncertainty, kind="stable")
    # Right answers among the kept cases when the first k of `order` are referred: total minus referred.
    referred_right = np.concatenate([[0], np.cumsum(correct[order])])[:n]
    n_referred = np.arange(n)
    n_kept = n - n_referred
    cutoff = np.concatenate([[np.nan], uncertainty[order][: n - 1]])
    return pd.DataFrame(
        {
            "n_referred": n_referred,
            "fraction_referred": n_referred / n,
            "n_kept": n_kept,
            "accuracy": (correct.sum() - referred_right) / n_kept,
            "uncertainty_cutoff": cutoff,
        }
    )


def referral_point(curve: pd.DataFrame, fraction: float) -> dict[str, float | int | None]:
    """The row of a :func:`referral_curve` where ``fraction`` of all cases (rounded half up) are referred.

    Returns:
        ``fraction, n_referred, n_kept, accuracy, uncertainty_cutoff`` (None when nothing is referred).

    Raises:
        ValueError: ``fraction`` outside [0, 1).
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"referral fraction {fraction}: must be in [0, 1)")
    n = len(curve)
    k = min(int(np.floor(fraction * n + 0.5)), n - 1)
    row = curve.iloc[k]
    return {
        "fraction": float(fraction),
        "n_referred": int(row["n_referred"]),
        "n_kept": int(row["n_kept"]),
        "accuracy": float(row["accuracy"]),
        "uncertainty_cutoff": None if k == 0 else float(row["uncertainty_cutoff"]),
    }


def accuracy_at_referral(curve: pd.DataFrame, fraction: float) -> float:
    """Accuracy of the kept cases when ``fraction`` of all cases are referred (see :func:`referral_point`)."""
    return float(referral_point(curve, fraction)["accuracy"])
