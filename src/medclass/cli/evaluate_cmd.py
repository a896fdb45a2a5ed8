"""``medclass evaluate``: metrics of a trained model on its test split or another labelled folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medclass.cli.base import app, console


@app.command()
def evaluate(
    source: Annotated[Path, typer.Argument(help="Run folder or checkpoint file.")],
    data: Annotated[str | None, typer.Option("--data", help="Labelled data set to evaluate on.")] = None,
    split: Annotated[str, typer.Option("--split", help="Split of the run to evaluate.")] = "test",
    epoch: Annotated[int | None, typer.Option("--epoch", help="Evaluate this epoch's checkpoint.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the metrics JSON here.")] = None,
    bootstrap: Annotated[int | None, typer.Option("--bootstrap", help="Bootstrap resamples for CIs.")] = None,
) -> None:
    """Evaluate a checkpoint: accuracy, F1, AUROC, per-class sensitivity/specificity, confusion matrix."""
    from medclass.api.evaluate import evaluate as run_evaluation

    run_evaluation(source, data=data, split=split, epoch=epoch, out=out, bootstrap=bootstrap, console=console)
