"""``medclass predict``: class probabilities for image files and folders, as CSV, optionally with uncertainty."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medclass.cli.base import console
from medclass.cli.options import OverwriteFileOpt
from medclass.utils.extras import require_extra


def predict(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint file or run folder (its best checkpoint).")],
    paths: Annotated[list[Path], typer.Argument(help="Image files or folders (searched recursively).")],
    out: Annotated[
        Path | None, typer.Option("--out", help="CSV file to write.", show_default="print the table")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Images per batch.")] = 64,
    mc_dropout: Annotated[
        int,
        typer.Option(
            "--mc-dropout",
            min=0,
            help="N stochastic passes with dropout on (batch-norm stays in eval); adds entropy and std "
            "(multi-label: also std_<label>).",
        ),
    ] = 0,
    tta: Annotated[
        int,
        typer.Option(
            "--tta",
            min=0,
            help="N test-time augmented views (flips, small shifts), averaged; the first is the image.",
        ),
    ] = 0,
    flag_uncertain: Annotated[
        float | None,
        typer.Option(
            "--flag-uncertain",
            min=0.0,
            help="Mark rows whose predictive entropy (nats; ln 2 = 0.693 is a coin toss) exceeds this "
            "(multi-label: the mean of the labels' binary entropies).",
            show_default="off",
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", min=0, help="Seed of the dropout masks and augmentations.")
    ] = 0,
    overwrite: OverwriteFileOpt = False,
    dicom_sr: Annotated[
        Path | None,
        typer.Option(
            "--dicom-sr",
            help="Folder: write a DICOM Structured Report per DICOM input (as dicom-node sends it).",
            show_default="none",
        ),
    ] = None,
) -> None:
    """Predict classes; unreadable files get a row with an error instead of stopping the batch."""
    if dicom_sr is not None:
        require_extra("dicom", "medclass predict --dicom-sr")
    from medclass.api.predict import predict as run_prediction

    table = run_prediction(
        checkpoint,
        paths,
        out=out,
        batch_size=batch_size,
        mc_dropout=mc_dropout,
        tta=tta,
        flag_uncertain=flag_uncertain,
        seed=seed,
        overwrite=overwrite,
        dicom_sr=dicom_sr,
    )
    errors = int((table["error"] != "").sum())
    if out is None:
        console.print(table.to_string(index=False, max_rows=50))
    else:
        console.print(f"{len(table)} rows ({errors} unreadable) written to {out}")
    if dicom_sr is not None:
        console.print(f"{len(table.attrs['dicom_sr'])} DICOM SR file(s) written to {dicom_sr}")
    if "uncertain" in table.columns:
        flagged = int(table["uncertain"].eq(True).sum())  # error rows hold NaN
        console.print(
            f"{flagged} prediction(s) flagged uncertain (entropy > {flag_uncertain:g}): review them"
        )
