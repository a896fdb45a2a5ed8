"""``medclass evaluate --all-epochs``: test metrics of every kept epoch of a run (the X-ray seed protocol)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from medclass.assessment.epochs import (
    EpochTable,
    best_epoch,
    epoch_summary,
    epoch_table_path,
    score_epochs,
    selection_of,
    write_epoch_table,
)
from medclass.runs import RunLayout
from medclass.training.describe import fmt
from medclass.utils.console import default_console
from medclass.utils.errors import RunDirError
from medclass.utils.io import write_json


def evaluate_epochs(
    source: str | Path,
    data: str | Path | None = None,
    split: str = "test",
    out: str | Path | None = None,
    console: Console | None = None,
) -> EpochTable:
    """Evaluate every kept ``epoch=NN.ckpt`` of a run and mark the epoch with the best macro-F1 (a multi-label
    run: the best macro AUROC).

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
        sensitivity_<class>..., specificity_<class>..., best_f1``; a multi-label run: ``epoch, n, macro_auroc,
        micro_auroc, map, auroc_<label>..., best_macro_auroc``), also written as CSV (see
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

    def show(epoch: int, row: dict[str, Any]) -> None:
        if "macro_auroc" in row:
            console.print(
                f"epoch {epoch:3d}  macro AUROC {fmt(row['macro_auroc'])}  micro AUROC {fmt(row['micro_auroc'])}  "
                f"mAP {fmt(row['map'])}"
            )
            return
        console.print(
            f"epoch {epoch:3d}  accuracy {row['accuracy']:.4f}  macro-F1 {row['macro_f1']:.4f}  "
            f"balanced accuracy {row['balanced_accuracy']:.4f}"
        )

    table = score_epochs(run_dir, epochs, data, split, on_epoch=show)
    csv_path = epoch_table_path(run_dir, data, split)
    write_epoch_table(table, csv_path)
    selected = {"macro_f1": "macro-F1", "macro_auroc": "macro AUROC"}[selection_of(table)[0]]
    console.print(f"best {selected} at epoch {best_epoch(table)}; table written to {csv_path}")
    if out is not None:
        write_json(out, epoch_summary(table, data, split))
    return table
