"""``medclass evaluate``: score a trained model on its own test split or on a labelled folder.

The metrics JSON holds the plain metrics at the model's decision rule (argmax, or the stored threshold),
``ci`` (stratified bootstrap 95% intervals), ``ece`` and ``calibration``; for binary models with a threshold
also ``at_0.5`` and ``at_threshold`` (the metrics at both thresholds) and ``operating_point`` (how the
threshold was chosen, always on the validation split). When the images' groups (patients) are known (the
``group`` column of splits.csv or of a CSV given as ``--data``), the CIs resample groups and ``by_group`` holds
the patient-level metrics. ``--mc-dropout N`` adds ``referral``. Without ``--out`` the JSON goes to
``RUN_DIR/evaluations/<name>.json``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from medclass.data.splits import read_splits
from medclass.evaluation.bootstrap import BOOTSTRAP_SEED
from medclass.evaluation.decision_fit import Decision, check_operating_point, fit_decision
from medclass.evaluation.metrics import classification_report_text
from medclass.evaluation.scoring import decision_blocks, score, val_operating_points
from medclass.evaluation.thresholds import resolve_positive_class
from medclass.evaluation.uncertainty import referral_curve, referral_point
from medclass.inference.inputs import image_groups, labelled_files
from medclass.inference.runner import Predictor
from medclass.reporting.console_summary import print_metrics_summary
from medclass.runs import (
    EVALUATIONS_DIR,
    REFERRAL_FILE,
    SPLITS_FILE,
    prepare_output_file,
    resolve_checkpoint,
    run_dir_of,
)
from medclass.training.checkpoint import stored_decision
from medclass.utils.console import default_console
from medclass.utils.errors import ConfigError, DataError, RunDirError
from medclass.utils.io import write_json


def default_output(source: str | Path, data: str | Path | None, split: str, epoch: int | None) -> Path | None:
    """``RUN_DIR/evaluations/<name>.json`` (``<split>`` or the data folder's name, ``_epochNN``), numbered
    ``-2``, ``-3``, ... rather than replacing an earlier one; None for a checkpoint outside a run folder."""
    try:
        folder = run_dir_of(source) / EVALUATIONS_DIR
    except RunDirError:
        return None
    name = split if data is None else Path(data).stem or "data"
    if epoch is not None:
        name += f"_epoch{epoch:02d}"
    path, number = folder / f"{name}.json", 1
    while path.exists():
        number += 1
        path = folder / f"{name}-{number}.json"
    return path


def validation_logits(source: str | Path, predictor: Predictor) -> tuple[np.ndarray, np.ndarray] | None:
    """Logits and labels of the run's validation split (None for a checkpoint outside a run folder or a run
    without val rows)."""
    try:
        paths, labels = labelled_files(source, predictor.meta, None, "val")
    except (RunDirError, DataError):
        return None
    result, y_val = predictor.predict_labelled(paths, labels)
    return result.logits, y_val


def choose_on_val(
    source: str | Path,
    predictor: Predictor,
    operating_point: str,
    val: tuple[np.ndarray, np.ndarray] | None,
    positive_class: str | None,
) -> Decision:
    """Choose a threshold with ``operating_point`` on the run's validation split (keeping the temperature)."""
    rule = check_operating_point(operating_point, predictor.classes)
    if val is None:
        raise RunDirError(
            f"{source}: --operating-point chooses the threshold on the run's validation split; give the run "
            "folder (or a checkpoint inside its checkpoints/ folder)"
        )
    logits, y_val = val
    temperature = predictor.meta.temperature
    return fit_decision(logits, y_val, predictor.classes, False, rule, temperature, "val", positive_class)


def positive_class_for(
    source: str | Path, meta: Any, decision: Decision, labels: Sequence[str]
) -> str | None:
    """The positive class: stored with the checkpoint's decision, else ``evaluation.positive_class`` or the
    default rule on the class counts of the run's splits.csv (of ``labels`` outside a run folder)."""
    if decision.positive_class is not None or len(meta.classes) != 2:
        return decision.positive_class
    with contextlib.suppress(RunDirError, DataError):
        labels = list(read_splits(run_dir_of(source) / SPLITS_FILE)["label"])
    counts = [labels.count(c) for c in meta.classes]
    configured = meta.config.get("evaluation", {}).get("positive_class")
    try:
        return resolve_positive_class(meta.classes, configured, counts)
    except ValueError as exc:
        raise ConfigError(f"evaluation.positive_class: {exc}") from None


def evaluate(
    source: str | Path,
    data: str | Path | None = None,
    split: str = "test",
    epoch: int | None = None,
    out: str | Path | None = None,
    bootstrap: int | None = None,
    operating_point: str | None = None,
    mc_dropout: int | None = None,
    tta: int = 0,
    console: Console | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Evaluate a checkpoint (or a run folder's best or ``epoch`` checkpoint).

    Args:
        source: run folder or checkpoint file.
        data: a labelled data set (any layout); default: the run's own ``split`` rows.
        split: which split of the run to use when ``data`` is not given.
        epoch: evaluate ``checkpoints/epoch=NN.ckpt`` of the run instead of the best.
        out: write the metrics JSON here (default: ``RUN_DIR/evaluations/<split or data name>.json``, never
            replacing an earlier one).
        bootstrap: bootstrap resamples for CIs (default: the run config's ``evaluation.bootstrap``).
        operating_point: binary only: choose a threshold with this rule (``youden``, ``sensitivity=0.95``,
            ``specificity=0.9``) on the run's validation split and report the metrics at it and at 0.5. The
            checkpoint is not changed.
        mc_dropout: also report accuracy after referring the most uncertain 10% / 20% of images, from this
            many Monte-Carlo dropout passes (under ``referral``).
        tta: N > 0: score the mean probability of N test-time augmented views (the first is the image
            itself, then flips and small shifts; see :meth:`Predictor.predict_cached`), recorded as ``tta``.
        console: where the text report goes.
        overwrite: replace ``out`` when it exists (otherwise that is an error, checked before any work).

    Returns:
        The metrics dict (as written to ``out``).

    Raises:
        ConfigError: a bad operating-point rule, or one for a model that is not binary.
        RunDirError, DataError: missing checkpoint, split or data (named).
    """
    console = console or default_console()
    if out is not None:
        prepare_output_file(out, overwrite=overwrite)
    else:
        out = default_output(source, data, split, epoch)
    checkpoint = resolve_checkpoint(source, epoch)
    predictor = Predictor.load(checkpoint)
    predictor.check_mc_dropout(mc_dropout or 0)  # before any work: a model without dropout is refused
    meta = predictor.meta
    decision = stored_decision(checkpoint, meta)
    val = validation_logits(source, predictor)
    if operating_point:
        positive = positive_class_for(source, meta, decision, [])
        decision = choose_on_val(source, predictor, operating_point, val, positive)
        meta.threshold = decision.threshold
    paths, labels = labelled_files(source, meta, data, split)
    positive = positive_class_for(source, meta, decision, labels)
    points = None if val is None else val_operating_points(*val, meta.classes, decision, positive)
    result, y_true = predictor.predict_labelled(paths, labels, tta=tta)
    if len(y_true) == 0:
        first, reason = next(iter(result.failures.items()), ("-", "no file"))
        raise DataError(f"none of the {len(paths)} image(s) to evaluate is readable (e.g. {first}: {reason})")
    settings = meta.config.get("evaluation", {})
    bootstrap = int(settings.get("bootstrap", 1000)) if bootstrap is None else bootstrap
    groups = image_groups(source, data, result.paths)
    aggregate = settings.get("group_aggregate", "mean")
    metrics = score(
        y_true,
        result.probs,
        meta.classes,
        decision.threshold,
        bootstrap,
        BOOTSTRAP_SEED,
        groups,
        aggregate,
        positive,
        points,
    )
    metrics.update(
        decision_blocks(decision),
        checkpoint=str(checkpoint),
        data=str(data) if data is not None else None,
        split=split if data is None else None,
        tta=tta,
        skipped=[{"path": p, "reason": r} for p, r in result.failures.items()],
    )
    if mc_dropout is not None:
        metrics["referral"] = referral_evaluation(source, data, split, mc_dropout, epoch=epoch)
    print_metrics_summary(metrics, console)
    console.print(classification_report_text(y_true, result.probs, meta.classes, decision.threshold))
    describe_threshold(decision, metrics, console)
    if result.failures:
        console.print(f"[yellow]{len(result.failures)} unreadable file(s) skipped[/]")
    if out is not None:
        prepare_output_file(out, overwrite=True)
        write_json(out, metrics)
        console.print(f"metrics written to {out}")
    else:
        console.print("metrics not written (a checkpoint outside a run folder): give --out FILE.json")
    return metrics


def describe_threshold(decision: Decision, metrics: dict[str, Any], console: Console) -> None:
    """Print the threshold, how it was chosen, and the accuracy at it and at 0.5 (binary with a rule)."""
    if decision.rule is None:
        return
    console.print(
        f"threshold {decision.threshold:.4f} ({decision.rule}, chosen on val: sensitivity "
        f"{decision.sensitivity:.3f}, specificity {decision.specificity:.3f}); accuracy at 0.5 "
        f"{metrics['at_0.5']['accuracy']:.4f}, at the threshold {metrics['at_threshold']['accuracy']:.4f}"
    )


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
    console: Console | None = None,
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
        console: unused (kept for callers that pass one).

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
