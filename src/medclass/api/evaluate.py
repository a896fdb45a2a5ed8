"""``medclass evaluate``: score a trained model on its own test split or on a labelled folder.

The metrics JSON holds the plain metrics at the model's decision rule (argmax, or the stored threshold),
``ci`` (stratified bootstrap 95% intervals), ``ece`` and ``calibration``; for binary models with a threshold
also ``at_0.5`` and ``at_threshold`` (the metrics at both thresholds) and ``operating_point`` (how the
threshold was chosen, always on the validation split).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console

from medclass.api.decision import (
    ECE_BINS,
    Decision,
    check_operating_point,
    fit_decision,
    stored_decision,
)
from medclass.api.inference import Inference, infer_files
from medclass.api.prepare import SPLITS_FILE, training_view
from medclass.data.discovery import discover
from medclass.data.splits import read_splits
from medclass.evaluation.bootstrap import bootstrap_ci
from medclass.evaluation.calibration import expected_calibration_error
from medclass.evaluation.metrics import classification_metrics, classification_report_text
from medclass.training.checkpoint import CheckpointMeta, load_for_inference, resolve_checkpoint
from medclass.utils.console import default_console
from medclass.utils.errors import ConfigError, DataError, RunDirError
from medclass.utils.io import write_json

EPOCH_METRICS_FILE = "epoch_metrics.csv"
# Summary columns of the per-epoch table (the X-ray protocol reports accuracy and F1 per saved epoch).
EPOCH_COLUMNS = ("accuracy", "balanced_accuracy", "macro_f1", "auroc", "ece")


def metrics_with_ci(
    y_true: np.ndarray,
    probs: np.ndarray,
    classes: list[str],
    threshold: float | None = None,
    bootstrap: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """:func:`classification_metrics` plus bootstrap 95% CIs under ``ci`` when ``bootstrap > 0``."""
    result = classification_metrics(y_true, probs, classes, threshold=threshold)
    if bootstrap > 0:
        result["ci"] = bootstrap_ci(
            y_true, probs, classes, n_resamples=bootstrap, seed=seed, threshold=threshold
        )
    return result


def score(
    y_true: np.ndarray,
    probs: np.ndarray,
    classes: list[str],
    threshold: float | None = None,
    bootstrap: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """Metrics of ``probs`` against ``y_true`` at the decision rule, with CIs, ECE and both thresholds.

    Args:
        y_true: true class indices ``(N,)``.
        probs: probabilities ``(N, K)`` (after any temperature).
        classes: class names; binary: ``classes[1]`` is the positive class.
        threshold: binary decision threshold (None: argmax).
        bootstrap: resamples for the 95% CIs (0: none).
        seed: bootstrap seed.

    Returns:
        The plain metrics at the decision rule, ``ci`` (when ``bootstrap > 0``), ``ece`` (15 bins), and for a
        binary model with a threshold ``at_0.5`` and ``at_threshold`` blocks of the same form.
    """
    result = metrics_with_ci(y_true, probs, classes, threshold, bootstrap, seed)
    if len(classes) == 2 and threshold is not None:
        # The plain keys already are the metrics at the threshold: copy them instead of bootstrapping again.
        result["at_threshold"] = copy.deepcopy(result)
        result["at_0.5"] = metrics_with_ci(y_true, probs, classes, 0.5, bootstrap, seed)
    result["ece"] = expected_calibration_error(y_true, probs, ECE_BINS)
    return result


def decision_blocks(decision: Decision) -> dict[str, Any]:
    """The ``calibration`` and ``operating_point`` blocks of a metrics JSON."""
    return {"calibration": decision.calibration(), "operating_point": decision.operating_point()}


def run_dir_of(source: str | Path) -> Path:
    """The run folder of a run folder or of a checkpoint inside its ``checkpoints/`` folder."""
    source = Path(source)
    if source.is_dir():
        return source
    if source.parent.name == "checkpoints":
        return source.parent.parent
    raise RunDirError(f"{source}: a checkpoint outside a run folder has no splits; pass --data DIR")


def labelled_files(
    source: str | Path, meta: CheckpointMeta, data: str | Path | None, split: str
) -> tuple[list[str], list[str]]:
    """Paths and labels to evaluate: every image of ``data``, or the run's ``split`` rows."""
    if data is not None:
        index = discover(data)
        unknown = sorted(set(index.classes) - set(meta.classes))
        if unknown:
            raise DataError(
                f"{data}: classes {unknown} are not classes of the model {meta.classes}; "
                "class folder names must match the checkpoint's"
            )
        return [str(s.path) for s in index.samples], [s.label for s in index.samples]
    run_dir = run_dir_of(source)
    table = read_splits(run_dir / SPLITS_FILE, meta.classes)
    table = training_view(table, meta.config.get("split", {}).get("fold", 0))
    rows = table[table["split"] == split]
    if rows.empty:
        raise DataError(f"{run_dir / SPLITS_FILE}: no rows with split '{split}'")
    return list(rows["path"]), list(rows["label"])


def infer_labelled(
    model: Any, meta: CheckpointMeta, paths: list[str], labels: list[str]
) -> tuple[Inference, np.ndarray]:
    """Model outputs on the readable files and their true class indices (same order)."""
    inference = infer_files(model, meta, paths)
    if not inference.paths:
        first, reason = next(iter(inference.failures.items()), ("-", "no file"))
        raise DataError(f"none of the {len(paths)} image(s) to evaluate is readable (e.g. {first}: {reason})")
    label_of = dict(zip(paths, labels, strict=True))
    y_true = np.array([meta.classes.index(label_of[p]) for p in inference.paths], dtype=np.int64)
    return inference, y_true


def choose_on_val(source: str | Path, model: Any, meta: CheckpointMeta, operating_point: str) -> Decision:
    """Choose a threshold with ``operating_point`` on the run's validation split (keeping the temperature)."""
    rule = check_operating_point(operating_point, meta.classes)
    try:
        paths, labels = labelled_files(source, meta, None, "val")
    except RunDirError:
        raise RunDirError(
            f"{source}: --operating-point chooses the threshold on the run's validation split; give the run "
            "folder (or a checkpoint inside its checkpoints/ folder)"
        ) from None
    inference, y_val = infer_labelled(model, meta, paths, labels)
    return fit_decision(inference.logits, y_val, meta.classes, False, rule, meta.temperature, "val")


def referral_block(source: str | Path, data: str | Path | None, split: str, passes: int) -> dict[str, Any]:
    """Accuracy when the most uncertain images (MC dropout) are referred, from ``medclass.api.uncertainty``."""
    try:
        from medclass.api.uncertainty import referral_evaluation
    except ImportError as exc:
        raise ConfigError(
            f"--mc-dropout needs medclass.api.uncertainty, which is not available ({exc})"
        ) from None
    return referral_evaluation(source, data=data, split=split, passes=passes, fractions=(0.1, 0.2))


def evaluate(
    source: str | Path,
    data: str | Path | None = None,
    split: str = "test",
    epoch: int | None = None,
    out: str | Path | None = None,
    bootstrap: int | None = None,
    operating_point: str | None = None,
    mc_dropout: int | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    """Evaluate a checkpoint (or a run folder's best or ``epoch`` checkpoint).

    Args:
        source: run folder or checkpoint file.
        data: a labelled data set (any layout); default: the run's own ``split`` rows.
        split: which split of the run to use when ``data`` is not given.
        epoch: evaluate ``checkpoints/epoch=NN.ckpt`` of the run instead of the best.
        out: write the metrics JSON here.
        bootstrap: bootstrap resamples for CIs (default: the run config's ``evaluation.bootstrap``).
        operating_point: binary only: choose a threshold with this rule (``youden``, ``sensitivity=0.95``,
            ``specificity=0.9``) on the run's validation split and report the metrics at it and at 0.5. The
            checkpoint is not changed.
        mc_dropout: also report accuracy after referring the most uncertain 10% / 20% of images, from this
            many Monte-Carlo dropout passes (under ``referral``).
        console: where the text report goes.

    Returns:
        The metrics dict (as written to ``out``).

    Raises:
        ConfigError: a bad operating-point rule, or one for a model that is not binary.
        RunDirError, DataError: missing checkpoint, split or data (named).
    """
    console = console or default_console()
    checkpoint = resolve_checkpoint(source, epoch)
    model, meta = load_for_inference(checkpoint)
    chosen = choose_on_val(source, model, meta, operating_point) if operating_point else None
    decision = chosen or stored_decision(checkpoint, meta)
    paths, labels = labelled_files(source, meta, data, split)
    inference, y_true = infer_labelled(model, meta, paths, labels)
    if bootstrap is None:
        bootstrap = int(meta.config.get("evaluation", {}).get("bootstrap", 1000))
    result = score(y_true, inference.probs, meta.classes, decision.threshold, bootstrap, seed=0)
    result.update(decision_blocks(decision))
    result.update(
        checkpoint=str(checkpoint),
        data=str(data) if data is not None else None,
        split=split if data is None else None,
        skipped=[{"path": p, "reason": r} for p, r in inference.failures.items()],
    )
    if mc_dropout is not None:
        result["referral"] = referral_block(source, data, split, mc_dropout)
    console.print(classification_report_text(y_true, inference.probs, meta.classes, decision.threshold))
    if decision.rule is not None:
        console.print(
            f"threshold {decision.threshold:.4f} ({decision.rule}, chosen on val: sensitivity "
            f"{decision.sensitivity:.3f}, specificity {decision.specificity:.3f}); accuracy at 0.5 "
            f"{result['at_0.5']['accuracy']:.4f}, at the threshold {result['at_threshold']['accuracy']:.4f}"
        )
    if inference.failures:
        console.print(f"[yellow]{len(inference.failures)} unreadable file(s) skipped[/]")
    if out is not None:
        write_json(out, result)
        console.print(f"metrics written to {out}")
    return result


def kept_epochs(run_dir: Path) -> list[int]:
    """Epochs whose ``checkpoints/epoch=NN.ckpt`` exists, ascending."""
    epochs = []
    for path in (run_dir / "checkpoints").glob("epoch=*.ckpt"):
        number = path.stem.removeprefix("epoch=")
        if number.isdigit():
            epochs.append(int(number))
    return sorted(epochs)


def epoch_row(epoch: int, metrics: dict[str, Any]) -> dict[str, Any]:
    """One row of the per-epoch table: summary metrics plus per-class sensitivity and specificity."""
    row: dict[str, Any] = {"epoch": epoch, "n": metrics["n"]}
    row.update({name: metrics.get(name) for name in EPOCH_COLUMNS})
    for name, values in metrics["per_class"].items():
        row[f"sensitivity_{name}"] = values["sensitivity"]
        row[f"specificity_{name}"] = values["specificity"]
    return row


def evaluate_epochs(
    source: str | Path,
    data: str | Path | None = None,
    split: str = "test",
    out: str | Path | None = None,
    console: Console | None = None,
) -> pd.DataFrame:
    """Evaluate every kept ``epoch=NN.ckpt`` of a run and mark the epoch with the best macro-F1.

    This is the X-ray seed protocol (test metrics of every saved epoch, best F1 picked). Choosing an epoch by
    its test score makes that score optimistic; the best checkpoint of the run was chosen on validation.

    Args:
        source: the run folder.
        data: a labelled data set instead of the run's ``split`` rows.
        split: the run's split to evaluate.
        out: also write ``{"rows": [...], "best_epoch": N, ...}`` as JSON here.
        console: where the table goes.

    Returns:
        One row per epoch (``epoch, n, accuracy, balanced_accuracy, macro_f1, auroc, ece,
        sensitivity_<class>..., specificity_<class>..., best_f1``), also written as CSV: ``RUN_DIR/
        epoch_metrics.csv`` for the run's test split, else ``epoch_metrics_<split or data folder>.csv``.

    Raises:
        RunDirError: ``source`` is not a run folder or keeps no per-epoch checkpoints.
    """
    console = console or default_console()
    run_dir = Path(source)
    if not run_dir.is_dir():
        raise RunDirError(f"--all-epochs needs a run folder, got {source}")
    epochs = kept_epochs(run_dir)
    if not epochs:
        raise RunDirError(
            f"{run_dir / 'checkpoints'}: no epoch=NN.ckpt files; train with checkpoint.every_epoch: true "
            "to keep every epoch"
        )
    rows = []
    paths: list[str] | None = None
    for epoch in epochs:
        model, meta = load_for_inference(run_dir, epoch)
        if paths is None:  # the same images for every epoch of the run
            paths, labels = labelled_files(run_dir, meta, data, split)
        inference, y_true = infer_labelled(model, meta, paths, labels)
        metrics = score(y_true, inference.probs, meta.classes, meta.threshold)
        rows.append(epoch_row(epoch, metrics))
        console.print(
            f"epoch {epoch:3d}  accuracy {metrics['accuracy']:.4f}  macro-F1 {metrics['macro_f1']:.4f}  "
            f"balanced accuracy {metrics['balanced_accuracy']:.4f}"
        )
    table = pd.DataFrame(rows)
    best = int(table.loc[table["macro_f1"].idxmax(), "epoch"])  # first epoch among equal F1
    table["best_f1"] = table["epoch"] == best
    if data is None and split == "test":
        csv_path = run_dir / EPOCH_METRICS_FILE
    else:
        csv_path = run_dir / f"epoch_metrics_{split if data is None else Path(data).name}.csv"
    table.to_csv(csv_path, index=False, float_format="%.6f")
    console.print(f"best macro-F1 at epoch {best}; table written to {csv_path}")
    if out is not None:
        write_json(
            out,
            {
                "split": split if data is None else None,
                "data": str(data) if data is not None else None,
                "selected_by": "macro_f1",
                "best_epoch": best,
                "rows": table.to_dict(orient="records"),
            },
        )
    return table
