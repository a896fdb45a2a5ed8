"""Referral: the accuracy left when the most uncertain cases (predictive entropy of the MC-dropout mean) are
referred to a human (``evaluate --mc-dropout N``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medclass.evaluation.uncertainty import referral_curve, referral_point
from medclass.inference.inputs import labelled_files
from medclass.inference.runner import Predictor
from medclass.runs import REFERRAL_FILE, resolve_checkpoint, run_dir_of
from medclass.utils.errors import ConfigError, RunDirError


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
        for 0 and each of ``fractions``, and ``"accuracy": {"0": a0, "0.1": a10, ...}``.

    Raises:
        ConfigError: ``passes < 1``, a fraction outside [0, 1), or a model without a dropout layer.
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
    result, y_true = predictor.predict_labelled(
        paths, labels, mc_dropout=passes, batch_size=batch_size, seed=seed
    )
    curve = referral_curve(result.predicted == y_true, result.entropy)
    if out is None:
        try:
            out = run_dir_of(source) / REFERRAL_FILE
        except RunDirError:
            out = checkpoint.parent / REFERRAL_FILE
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    curve.to_csv(out, index=False, float_format="%.6f")
    points = [referral_point(curve, fraction) for fraction in (0.0, *fractions)]
    return {
        "passes": passes,
        "n": len(result.paths),
        "dropout_layers": result.dropout_layers,
        "checkpoint": str(checkpoint),
        "split": split if data is None else None,
        "data": str(data) if data is not None else None,
        "csv": str(out),
        "mean_entropy": float(result.entropy.mean()) if len(result.entropy) else float("nan"),
        "points": points,
        "accuracy": {f"{p['fraction']:g}": p["accuracy"] for p in points},
    }
