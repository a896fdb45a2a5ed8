"""``medclass report``: the figures, report.html and summary.md of a run folder (``train`` calls it at its end)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from rich.console import Console

from medclass.api.model_figures import write_model_figures
from medclass.reporting.build import ReportResult, build_report
from medclass.utils.console import default_console


def report(
    run_dir: str | Path, out: str | Path | None = None, console: Console | None = None
) -> ReportResult:
    """Draw the figures of a run from its files and write ``report.html`` and ``summary.md``.

    Figures that need the model (augmented samples, feature maps, the model profile) are made from the best
    checkpoint when the folder lacks them; a run without a checkpoint still gets a report without them.

    Args:
        run_dir: the run folder.
        out: the HTML file (default ``RUN_DIR/report.html``); summary.md always goes into the run folder.
        console: where progress and notes go.

    Returns:
        The paths written and the figures (with the reasons of any skipped).

    Raises:
        RunDirError: ``run_dir`` is not a run folder (no config.yaml) or a file in it is malformed.
    """
    console = console or default_console()
    figures = partial(write_model_figures, only_missing=True, console=console)
    return build_report(run_dir, figures, console, out)
