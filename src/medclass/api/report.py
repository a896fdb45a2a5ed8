"""``medclass report``: the figures, report.html and summary.md of a run folder (``train`` calls it at its end)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from medclass.api.artifacts import (
    AUGMENTED_FILE,
    FEATURE_MAPS_FILE,
    MODEL_PROFILE_FILE,
    PLOTS_DIR,
    write_model_artifacts,
)
from medclass.reporting.figures import Figures, write_run_figures
from medclass.reporting.html import write_report
from medclass.reporting.run_files import load_run
from medclass.reporting.summary import write_summary
from medclass.utils.console import default_console
from medclass.utils.errors import RunDirError, WeightsError


@dataclass
class ReportResult:
    """What ``report`` wrote."""

    html: Path
    summary: Path
    figures: Figures


def missing_model_artifacts(run_dir: Path) -> list[str]:
    """The model-based artifacts a run folder lacks (older runs, or a run whose end was interrupted)."""
    wanted = [
        run_dir / MODEL_PROFILE_FILE,
        run_dir / PLOTS_DIR / AUGMENTED_FILE,
        run_dir / PLOTS_DIR / FEATURE_MAPS_FILE,
    ]
    return [path.name for path in wanted if not path.is_file()]


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
    run_dir = Path(run_dir)
    load_run(run_dir)  # fails early, with the reason, on a folder that is not a run
    missing = missing_model_artifacts(run_dir)
    model_failure = None
    if missing:
        try:
            write_model_artifacts(run_dir, only_missing=True, console=console)
        except (RunDirError, WeightsError) as exc:
            model_failure = f"it needs the model ({exc})"
    figures = write_run_figures(load_run(run_dir))
    if model_failure is not None:
        for name in ("augmented_samples", "feature_maps"):
            if not (run_dir / PLOTS_DIR / f"{name}.png").is_file():
                figures.skipped[name] = model_failure
    for name, reason in figures.skipped.items():
        console.print(f"[yellow]{name}.png skipped: {reason}[/]")
    html = write_report(run_dir, out, figures)
    summary = write_summary(run_dir)
    console.print(f"report written to {html} (summary: {summary})")
    return ReportResult(html=html, summary=summary, figures=figures)
