"""``medclass evaluate --all-epochs``: test metrics of every kept epoch of a run (the X-ray seed protocol)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from medclass.evaluation.scoring import score
from medclass.inference.inputs import labelled_files
from medclass.inference.runner import Predictor
from medclass.runs import EPOCH_METRICS_FILE, RunLayout
from medclass.utils.console import default_console
from medclass.utils.errors import RunDirError
from medclass.utils.io import write_json

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
        sensitivity_<class>..., specificity_<class>..., best_f1``), also written as CSV (see
        :func:`epoch_table_path`).

    Raises:
        RunDirError: ``source`` is not a run folder or keeps no per-epoch checkpoints.
    """
    console = console or default_console()
    run_dir = Path(source)
    if not run_dir.is_dir():
        raise RunDirError(f"--all-epochs needs a run folder, got {source}")
    layout = RunLayout(run_dir)
    epochs = layout.kept_epochs()
    if not epochs:
        raise RunDirError(
            f"{layout.checkpoints}: no epoch=NN.ckpt files; train with checkpoint.every_epoch: true "
            "to keep every epoch"
        )
    rows = []
    files: tuple[list[str], list[str]] | None = None
    for epoch in epochs:
        predictor = Predictor.load(run_dir, epoch)
        files = files or labelled_files(run_dir, predictor.meta, data, split)  # the same images every epoch
        result, y_true = predictor.predict_labelled(*files)
        metrics = score(y_true, result.probs, predictor.classes, predictor.meta.threshold)
        rows.append(epoch_row(epoch, metrics))
        console.print(
            f"epoch {epoch:3d}  accuracy {metrics['accuracy']:.4f}  macro-F1 {metrics['macro_f1']:.4f}  "
            f"balanced accuracy {metrics['balanced_accuracy']:.4f}"
        )
    table = pd.DataFrame(rows)
    best = int(table.loc[table["macro_f1"].idxmax(), "epoch"])  # first epoch among equal F1
    table["best_f1"] = table["epoch"] == best
    csv_path = epoch_table_path(run_dir, data, split)
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
