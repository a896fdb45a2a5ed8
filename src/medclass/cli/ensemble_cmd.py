"""``medclass ensemble``: one model from several finished runs (mean of their calibrated probabilities)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medclass.cli.base import console


def ensemble(
    run_dirs: Annotated[
        list[Path],
        typer.Argument(help="Finished run folders with the same classes and test split.", show_default=False),
    ],
    out: Annotated[Path, typer.Option("--out", help="Ensemble folder to write (a run-like folder).")],
    overwrite: Annotated[
        bool, typer.Option("--overwrite/--no-overwrite", help="Replace an existing ensemble folder.")
    ] = False,
) -> None:
    """Average the runs' calibrated probabilities; test the ensemble against each run (CIs, McNemar; multi-label
    runs: per-label sigmoid probabilities and thresholds, DeLong's test per label)."""
    from medclass.api.ensemble import ensemble as build_ensemble

    build_ensemble(run_dirs, out, overwrite=overwrite, console=console)
