"""``medclass compare``: run an experiment grid and compare its variants, or compare finished runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medclass.cli.base import console
from medclass.cli.options import DataOpt, SetOpt


def compare(
    run_dirs: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Finished run folders to compare (instead of --experiments).", show_default="none"
        ),
    ] = None,
    experiments: Annotated[
        Path | None,
        typer.Option(
            "--experiments",
            help="GRID.yaml: a base config plus named variants and/or models.",
            show_default="none",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Output folder (the same command resumes).",
            show_default="runs/compare/<grid name>",
        ),
    ] = None,
    repeats: Annotated[
        int | None,
        typer.Option("--repeats", min=1, help="Seeds per variant.", show_default="the grid's repeats"),
    ] = None,
    data: DataOpt = None,
    set_: SetOpt = None,
) -> None:
    """Compare variants: test metrics with CIs, best epoch, parameters, GMACs, time, McNemar vs the best
    (multi-label runs: per-label AUROC with DeLong's test vs the best by macro AUROC).

    With --experiments, runs the grid first (finished runs are kept, interrupted ones resumed); --data and
    --set apply to the grid's base config.
    """
    from medclass.api.compare import compare as run_compare

    run_compare(
        run_dirs or [],
        experiments=experiments,
        out=out,
        repeats=repeats,
        overrides=set_ or [],
        values={"data.path": data},
        console=console,
    )
