"""Test metrics of every kept epoch of a run (``evaluate --all-epochs``, the X-ray seed protocol).

A single-label run's table has accuracy, F1 and per-class sensitivity/specificity, the best epoch by macro-F1;
a multi-label run's has macro/micro AUROC, mAP and each label's AUROC, the best epoch by macro AUROC (the
figures that need no threshold: an epoch checkpoint's labels keep the untuned 0.5 until val chooses them for
the best checkpoint only).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from medclass.data.multilabel import label_matrix
from medclass.evaluation.multilabel import multilabel_scores
from medclass.evaluation.scoring import score
from medclass.inference.inputs import labelled_files
from medclass.inference.runner import Predictor
from medclass.runs import EPOCH_METRICS_FILE
from medclass.utils.errors import DataError

# A pandas DataFrame: one row per epoch (the name lets callers annotate it without importing pandas).
EpochTable = pd.DataFrame

# Summary columns of the per-epoch table (the X-ray protocol reports accuracy and F1 per saved epoch).
EPOCH_COLUMNS = ("accuracy", "balanced_accuracy", "macro_f1", "auroc", "ece")
# Summary columns of a multi-label run's table (then ``auroc_<label>`` per label).
LABEL_EPOCH_COLUMNS = ("macro_auroc", "micro_auroc", "map")
# The figure each task's best epoch is chosen by, and the column that marks it.
SELECTION = {"single-label": ("macro_f1", "best_f1"), "multilabel": ("macro_auroc", "best_macro_auroc")}


def epoch_row(epoch: int, metrics: dict[str, Any]) -> dict[str, Any]:
    """One row of the per-epoch table: summary metrics plus per-class sensitivity and specificity."""
    row: dict[str, Any] = {"epoch": epoch, "n": metrics["n"]}
    row.update({name: metrics.get(name) for name in EPOCH_COLUMNS})
    for name, values in metrics["per_class"].items():
        row[f"sensitivity_{name}"] = values["sensitivity"]
        row[f"specificity_{name}"] = values["specificity"]
    return row


def label_epoch_row(epoch: int, metrics: dict[str, Any]) -> dict[str, Any]:
    """One row of a multi-label run's per-epoch table: macro/micro AUROC, mAP, then each label's AUROC
    (None where undefined: a label without positive or negative images)."""
    row: dict[str, Any] = {"epoch": epoch, "n": metrics["n"]}
    row.update({name: metrics[name]["value"] for name in LABEL_EPOCH_COLUMNS})
    for name, block in metrics["per_label"].items():
        row[f"auroc_{name}"] = block["auroc"]["value"]
    return row


def _score_label_epoch(
    predictor: Predictor, paths: list[str], texts: list[str], source: str
) -> dict[str, Any]:
    """A multi-label epoch's metrics (no CIs) on the readable ones of ``paths``."""
    result = predictor.predict_files(paths)
    label_of = dict(zip(paths, texts, strict=True))
    y_true = label_matrix([label_of[p] for p in result.paths], predictor.classes, source)
    return multilabel_scores(y_true, result.probs, predictor.classes, predictor.meta.multilabel.thresholds)


def epoch_table_path(run_dir: Path, data: str | Path | None, split: str) -> Path:
    """``epoch_metrics.csv`` for the run's test split, else ``epoch_metrics_<split or data folder>.csv``."""
    if data is None and split == "test":
        return run_dir / EPOCH_METRICS_FILE
    suffix = split if data is None else Path(data).name
    return run_dir / f"{Path(EPOCH_METRICS_FILE).stem}_{suffix}.csv"


def score_epochs(
    run_dir: Path,
    epochs: Sequence[int],
    data: str | Path | None,
    split: str,
    on_epoch: Callable[[int, dict[str, Any]], None] = lambda epoch, row: None,
) -> EpochTable:
    """Score each of ``epochs`` (``checkpoints/epoch=NN.ckpt``) on the same images (``data``, or the run's
    ``split`` rows), calling ``on_epoch(epoch, row)`` after each, and mark the best epoch (the first among
    equals): by macro-F1 in ``best_f1`` (single-label, each epoch at its own decision rule), by macro AUROC in
    ``best_macro_auroc`` (multi-label).

    Returns:
        One row per epoch: ``epoch, n, accuracy, balanced_accuracy, macro_f1, auroc, ece,
        sensitivity_<class>..., specificity_<class>..., best_f1`` (single-label) or ``epoch, n, macro_auroc,
        micro_auroc, map, auroc_<label>..., best_macro_auroc`` (multi-label).

    Raises:
        DataError: a multi-label run where no epoch has a macro AUROC (no label with both kinds of image).
    """
    rows = []
    files: tuple[list[str], list[str]] | None = None
    task = "single-label"
    for epoch in epochs:
        predictor = Predictor.load(run_dir, epoch)
        files = files or labelled_files(run_dir, predictor.meta, data, split)  # the same images every epoch
        if predictor.meta.is_multilabel:
            task = "multilabel"
            row = label_epoch_row(epoch, _score_label_epoch(predictor, *files, str(data or split)))
        else:
            result, y_true = predictor.predict_labelled(*files)
            metrics = score(y_true, result.probs, predictor.classes, predictor.meta.decision.threshold)
            row = epoch_row(epoch, metrics)
        rows.append(row)
        on_epoch(epoch, row)
    table = pd.DataFrame(rows)
    metric, column = SELECTION[task]
    values = table[metric].astype(float)
    if values.isna().all():
        raise DataError(
            f"{data or split}: no epoch has a {metric} (no label has both positive and negative images)"
        )
    table[column] = table["epoch"] == int(table.loc[values.idxmax(), "epoch"])
    return table


def selection_of(table: EpochTable) -> tuple[str, str]:
    """``(metric, column)``: the figure a per-epoch table's best epoch was chosen by, and the column marking it."""
    return next((metric, column) for metric, column in SELECTION.values() if column in table.columns)


def best_epoch(table: EpochTable) -> int:
    """The epoch marked best by :func:`score_epochs` (``best_f1`` or ``best_macro_auroc``)."""
    return int(table.loc[table[selection_of(table)[1]], "epoch"].iloc[0])


def write_epoch_table(table: EpochTable, path: Path) -> None:
    """The per-epoch table as CSV (six decimals)."""
    table.to_csv(path, index=False, float_format="%.6f")


def epoch_summary(table: EpochTable, data: str | Path | None, split: str) -> dict[str, Any]:
    """The JSON form of the per-epoch table: ``split``/``data``, ``selected_by``, ``best_epoch``, ``rows``."""
    return {
        "split": split if data is None else None,
        "data": str(data) if data is not None else None,
        "selected_by": selection_of(table)[0],
        "best_epoch": best_epoch(table),
        "rows": table.to_dict(orient="records"),
    }
