"""Test metrics of every kept epoch of a run (``evaluate --all-epochs``, the X-ray seed protocol)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from medclass.evaluation.scoring import score
from medclass.inference.inputs import labelled_files
from medclass.inference.runner import Predictor
from medclass.runs import EPOCH_METRICS_FILE

# A pandas DataFrame: one row per epoch (the name lets callers annotate it without importing pandas).
EpochTable = pd.DataFrame

# Summary columns of the per-epoch table (the X-ray protocol reports accuracy and F1 per saved epoch).
EPOCH_COLUMNS = ("accuracy", "balanced_accuracy", "macro_f1", "auroc", "ece")


def epoch_row(epoch: int, metrics: dict[str, Any]) -> dict[str, Any]:
    """One row of the per-epoch table: summary metrics plus per-class sensitivity and specificity."""
    row: dict[str, Any] = {"epoch": epoch, "n": metrics["n"]}
    row.update({name: metrics.get(name) for name in EPOCH_COLUMNS})
    for name, values in metrics["per_class"].items():
        row[f"sensitivity_{name}"] = values["sensitivity"]
        row[f"specificity_{name}"] = values["specificity"]
    return row


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
    on_epoch: Callable[[int, dict[str, Any]], None] = lambda epoch, metrics: None,
) -> EpochTable:
    """Score each of ``epochs`` (``checkpoints/epoch=NN.ckpt``) at its own decision rule on the same images
    (``data``, or the run's ``split`` rows), calling ``on_epoch(epoch, metrics)`` after each, and mark the
    epoch with the best macro-F1 (the first among equals) in ``best_f1``.

    Returns:
        One row per epoch (``epoch, n, accuracy, balanced_accuracy, macro_f1, auroc, ece,
        sensitivity_<class>..., specificity_<class>..., best_f1``).
    """
    rows = []
    files: tuple[list[str], list[str]] | None = None
    for epoch in epochs:
        predictor = Predictor.load(run_dir, epoch)
        predictor.meta.require_single_label("evaluate --all-epochs")
        files = files or labelled_files(run_dir, predictor.meta, data, split)  # the same images every epoch
        result, y_true = predictor.predict_labelled(*files)
        metrics = score(y_true, result.probs, predictor.classes, predictor.meta.decision.threshold)
        rows.append(epoch_row(epoch, metrics))
        on_epoch(epoch, metrics)
    table = pd.DataFrame(rows)
    best = int(table.loc[table["macro_f1"].idxmax(), "epoch"])
    table["best_f1"] = table["epoch"] == best
    return table


def best_epoch(table: EpochTable) -> int:
    """The epoch marked ``best_f1`` by :func:`score_epochs`."""
    return int(table.loc[table["best_f1"], "epoch"].iloc[0])


def write_epoch_table(table: EpochTable, path: Path) -> None:
    """The per-epoch table as CSV (six decimals)."""
    table.to_csv(path, index=False, float_format="%.6f")


def epoch_summary(table: EpochTable, data: str | Path | None, split: str) -> dict[str, Any]:
    """The JSON form of the per-epoch table: ``split``/``data``, ``selected_by``, ``best_epoch``, ``rows``."""
    return {
        "split": split if data is None else None,
        "data": str(data) if data is not None else None,
        "selected_by": "macro_f1",
        "best_epoch": best_epoch(table),
        "rows": table.to_dict(orient="records"),
    }
