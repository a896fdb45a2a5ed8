"""``medclass predict``: class probabilities for image files and folders, as CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medclass.cli.base import app, console


@app.command()
def predict(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint file or run folder (its best checkpoint).")],
    paths: Annotated[list[Path], typer.Argument(help="Image files or folders (searched recursively).")],
    out: Annotated[Path | None, typer.Option("--out", help="CSV file to write.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per batch.")] = 64,
) -> None:
    """Predict classes; unreadable files get a row with an error instead of stopping the batch."""
    from medclass.api.predict import predict as run_prediction

    table = run_prediction(checkpoint, paths, out=out, batch_size=batch_size)
    errors = int((table["error"] != "").sum())
    if out is None:
        console.print(table.to_string(index=False, max_rows=50))
    else:
        console.print(f"{len(table)} rows ({errors} unreadable) written to {out}")
