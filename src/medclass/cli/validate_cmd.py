"""``medclass validate``: external validation of a trained run, with subgroups, decision curves and sample size."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medclass.cli.base import console


def validate(
    run_dir: Annotated[
        Path, typer.Argument(help="The run folder to validate (its best checkpoint, frozen).")
    ],
    external: Annotated[
        list[str] | None,
        typer.Option(
            "--external",
            help="NAME=DATA: an external labelled set (a folder in any layout medclass reads, or a CSV "
            "manifest; a multi-label run: a multi-label manifest or .npz) scored as site NAME; repeat for "
            "several sites.",
            show_default="none: the run's test split only",
        ),
    ] = None,
    subgroups: Annotated[
        list[str] | None,
        typer.Option(
            "--subgroups",
            help="A manifest column to report subgroups of (e.g. sex, site), or a FILE.csv mapping path to "
            "columns (every column is used); repeat for several.",
            show_default="none",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Output folder.", show_default="a new RUN_DIR/validation folder"),
    ] = None,
    shortcuts: Annotated[
        bool,
        typer.Option(
            "--shortcuts/--no-shortcuts",
            help="Run the shortcut screens (metadata, masked anatomy, explanation outside the body) on the "
            "run's test split; they take the longest.",
        ),
    ] = True,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite/--no-overwrite", help="Replace an earlier validation folder given as --out."
        ),
    ] = False,
) -> None:
    """Score the frozen model on its test split and external sites: metrics with CIs, calibration, what
    transfers and what breaks, heterogeneity, subgroups, decision curves, sample size (validation.json)."""
    from medclass.api.validate import validate as run_validation

    run_validation(
        run_dir,
        external=external or [],
        subgroups=subgroups or [],
        out=out,
        overwrite=overwrite,
        shortcuts=shortcuts,
        console=console,
    )
