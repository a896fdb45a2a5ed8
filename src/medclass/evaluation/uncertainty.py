"""The accuracy-vs-referral curve: how accurate a model is on the cases it is sure of. Pure functions (arrays
in, numbers out); the uncertainty itself (MC dropout, TTA, predictive entropy) comes from
``medclass.inference``.

- Referral (:func:`referral_curve`): refer the most uncertain cases to a human and measure the accuracy on
  the rest, for every number of referred cases; for a multi-label model (:func:`label_referral_curve`) the
  macro AUROC and mAP of the rest, at given referral fractions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from medclass.evaluation.multilabel import multilabel_scores


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


def label_referral_curve(
    y_true: np.ndarray,
    probs: np.ndarray,
    labels: Sequence[str],
    uncertainty: np.ndarray,
    fractions: Sequence[float],
) -> pd.DataFrame:
    """A multi-label model's referral: macro AUROC and mAP of the images kept when the most uncertain
    ``fraction`` of all images (rounded half up, at most ``N - 1``) are referred, one row per fraction.

    A full curve as :func:`referral_curve`'s would score every ``k`` (N times K AUROCs); the rows asked are
    enough for the referral figures and a plotted curve.

    Args:
        y_true: ``(N, K)`` targets (1, 0, NaN uncertain), as :func:`multilabel_scores` reads them.
        probs: ``(N, K)`` per-label probabilities.
        labels: the K label names.
        uncertainty: ``(N,)`` per-image uncertainty; higher is referred first (ties by input order).
        fractions: the referral fractions, each in [0, 1).

    Returns:
        ``fraction, n_referred, fraction_referred, n_kept, macro_auroc, map, uncertainty_cutoff`` (macro AUROC
        and mAP over the labels defined on the kept images, NaN when none is; the cutoff is the uncertainty
        of the last referred image, NaN when none is referred).

    Raises:
        ValueError: a fraction outside [0, 1) or arrays of mismatched or empty shape.
    """
    uncertainty = np.asarray(uncertainty, dtype=np.float64)
    n = len(uncertainty)
    if uncertainty.ndim != 1 or n == 0 or len(probs) != n:
        raise ValueError(f"uncertainty must be (N,) with N = {len(probs)} > 0, got shape {uncertainty.shape}")
    order = np.argsort(-uncertainty, kind="stable")
    rows = []
    for fraction in fractions:
        if not 0 <= fraction < 1:
            raise ValueError(f"referral fraction {fraction}: must be in [0, 1)")
        k = min(int(np.floor(fraction * n + 0.5)), n - 1)
        kept = np.sort(order[k:])
        scores = multilabel_scores(y_true[kept], probs[kept], labels, np.full(len(labels), 0.5))
        rows.append(
            {
                "fraction": float(fraction),
                "n_referred": k,
                "fraction_referred": k / n,
                "n_kept": n - k,
                "macro_auroc": _value(scores["macro_auroc"]),
                "map": _value(scores["map"]),
                "uncertainty_cutoff": float(uncertainty[order[k - 1]]) if k else np.nan,
            }
        )
    return pd.DataFrame(rows)


def _value(figure: dict[str, float | None]) -> float:
    return np.nan if figure["value"] is None else float(figure["value"])
