"""Referral: the accuracy left when the most uncertain cases (predictive entropy of the MC-dropout mean) are
referred to a human (``evaluate --mc-dropout N``); for a multi-label model the macro AUROC and mAP left, the
images ranked by the mean over labels of the binary predictive entropy."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medclass.data.multilabel import label_matrix
from medclass.evaluation.uncertainty import label_referral_curve, referral_curve, referral_point
from medclass.inference.inputs import labelled_files
from medclass.inference.runner import Predictions, Predictor
from medclass.runs import REFERRAL_FILE, resolve_checkpoint, run_dir_of
from medclass.utils.errors import ConfigError, DataError, RunDirError


def referral_evaluation(
    source: str | Path,
    data: str | Path | None = None,
    split: str = "test",
    passes: int = 20,
    fractions: Sequence[float] = (0.1, 0.2),
    epoch: int | None = None,
    out: str | Path | None = None,
    batch_size: int = 64,
    seed: int = 0,
) -> dict[str, Any]:
    """Evaluate with MC dropout and measure accuracy when the most uncertain cases are referred to a human.

    Cases are ranked by predictive entropy of the MC-dropout mean; referring the top ``k`` leaves the
    accuracy of the other ``N - k``. The full curve (``k = 0 .. N-1``) is written to ``RUN_DIR/referral.csv``
    (columns ``n_referred, fraction_referred, n_kept, accuracy, uncertainty_cutoff``).

    A multi-label model: images are ranked by the mean over labels of the binary predictive entropy of each
    label's MC-dropout mean (``"uncertainty": "mean_binary_entropy"``; see
    :func:`medclass.inference.passes.summarize_label_passes` for why), and referring them leaves the macro
    AUROC and mAP of the rest; referral.csv has a row every 5% and at each fraction asked (columns
    ``n_referred, fraction_referred, n_kept, macro_auroc, map, uncertainty_cutoff``).

    Args:
        source: run folder or checkpoint.
        data: a labelled data set instead of the run's ``split``.
        split: split of the run to evaluate.
        passes: MC-dropout passes (>= 1).
        fractions: referral fractions to report besides 0.
        epoch: use this epoch's checkpoint of the run.
        out: CSV path for the curve (default ``RUN_DIR/referral.csv``; next to a loose checkpoint).
        batch_size: images per pass.
        seed: seed of the dropout masks.

    Returns:
        ``{"passes", "n", "dropout_layers", "checkpoint", "split", "data", "csv", "mean_entropy",
        "points": [{"fraction", "n_referred", "n_kept", "accuracy", "uncertainty_cutoff"}, ...]}`` with a point
        for 0 and each of ``fractions``, and ``"accuracy": {"0": a0, "0.1": a10, ...}``. A multi-label model:
        ``"uncertainty": "mean_binary_entropy", "mean_uncertainty", "mean_std"`` (the mean per-label spread
        over the passes) instead of ``mean_entropy``, points with ``macro_auroc`` and ``map`` instead of
        ``accuracy``, and ``"macro_auroc"`` and ``"map"``: ``{"0": ..., "0.1": ..., "0.2": ...}``.

    Raises:
        ConfigError: ``passes < 1``, a fraction outside [0, 1), or a model without a dropout layer.
        DataError: none of the images is readable.
    """
    if passes < 1:
        raise ConfigError(f"--mc-dropout {passes}: needs at least 1 pass")
    bad = [f for f in fractions if not 0 <= f < 1]
    if bad:
        raise ConfigError(f"referral fraction {bad[0]}: must be in [0, 1)")
    checkpoint = resolve_checkpoint(source, epoch)
    predictor = Predictor.load(checkpoint)
    predictor.check_mc_dropout(passes)
    paths, labels = labelled_files(source, predictor.meta, data, split)
    if out is None:
        try:
            out = run_dir_of(source) / REFERRAL_FILE
        except RunDirError:
            out = checkpoint.parent / REFERRAL_FILE
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    options = {"mc_dropout": passes, "batch_size": batch_size, "seed": seed}
    if predictor.meta.is_multilabel:
        result = predictor.predict_files(paths, **options)
        label_of = dict(zip(paths, labels, strict=True))
        targets = label_matrix([label_of[p] for p in result.paths], predictor.classes, str(data or split))
        summary = _label_referral(result, targets, predictor.classes, fractions, Path(out))
    else:
        result, y_true = predictor.predict_labelled(paths, labels, **options)
        curve = referral_curve(result.predicted == y_true, result.entropy)
        curve.to_csv(out, index=False, float_format="%.6f")
        points = [referral_point(curve, fraction) for fraction in (0.0, *fractions)]
        summary = {
            "mean_entropy": _mean(result.entropy),
            "points": points,
            "accuracy": {f"{p['fraction']:g}": p["accuracy"] for p in points},
        }
    return {
        "passes": passes,
        "n": len(result.paths),
        "dropout_layers": result.dropout_layers,
        "checkpoint": str(checkpoint),
        "split": split if data is None else None,
        "data": str(data) if data is not None else None,
        "csv": str(out),
        **summary,
    }


# The rows of a multi-label referral.csv besides the fractions asked: every 5% (each row scores all labels).
LABEL_CURVE_FRACTIONS = tuple(i / 20 for i in range(20))


def _label_referral(
    result: Predictions, targets: np.ndarray, labels: list[str], fractions: Sequence[float], out: Path
) -> dict[str, Any]:
    """A multi-label model's referral block; writes the curve (every 5% and the fractions asked) to ``out``."""
    if not result.paths:
        raise DataError("none of the images to refer is readable")
    asked = (0.0, *fractions)
    curve = label_referral_curve(
        targets, result.probs, labels, result.entropy, sorted({*LABEL_CURVE_FRACTIONS, *asked})
    )
    curve.drop(columns="fraction").to_csv(out, index=False, float_format="%.6f")
    points = []
    for fraction in asked:
        row = curve[curve["fraction"] == fraction].iloc[0]
        points.append(
            {
                "fraction": float(fraction),
                "n_referred": int(row["n_referred"]),
                "n_kept": int(row["n_kept"]),
                "macro_auroc": _number(row["macro_auroc"]),
                "map": _number(row["map"]),
                "uncertainty_cutoff": _number(row["uncertainty_cutoff"]),
            }
        )
    return {
        "uncertainty": "mean_binary_entropy",
        "mean_uncertainty": _mean(result.entropy),
        "mean_std": _mean(result.std),
        "points": points,
        "macro_auroc": {f"{p['fraction']:g}": p["macro_auroc"] for p in points},
        "map": {f"{p['fraction']:g}": p["map"] for p in points},
    }


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else float("nan")


def _number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)
