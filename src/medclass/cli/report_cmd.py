"""``medclass report``: one self-contained HTML report (and summary.md) of a run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medclass.cli.base import console


def report(
    run_dir: Annotated[
        Path, typer.Argument(help="Run folder (written by medclass train).", show_default=False)
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help="HTML file to write.", show_default="RUN_DIR/report.html")
    ] = None,
) -> None:
    """Draw the run's figures and write report.html (images embedded, opens offline) and summary.md."""
    from medclass.api.report import report as write_run_report

    write_run_report(run_dir, out=out, console=console)
