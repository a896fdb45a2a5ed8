"""Building the whole report of a run folder: the figures from its files, report.html and summary.md.

The figures that need the trained model (augmented samples, feature maps, the error panel, the model profile:
:mod:`medclass.reporting.model_figures`, with explain's maps) are drawn by a function the caller passes in
(``model_figures``; :mod:`medclass.api.model_figures` joins the two feature packages), so a folder without a
usable checkpoint still gets its report, without them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from medclass.reporting.figures import ERROR_CAMS_FIGURE, Figures, write_run_figures
from medclass.reporting.multilabel_figures import write_multilabel_figures
from medclass.reporting.multilabel_report import is_multilabel, render_multilabel_report
from medclass.reporting.run_report import write_report
from medclass.reporting.summary import write_summary
from medclass.runs import ARTIFACTS_INFO_FILE, MODEL_PROFILE_FILE, RunFiles, RunLayout, load_run
from medclass.utils.errors import RunDirError, WeightsError
from medclass.utils.io import read_json

AUGMENTED_FIGURE = "augmented_samples"
FEATURE_MAPS_FIGURE = "feature_maps"


@dataclass
class ReportResult:
    """What a report build wrote."""

    html: Path
    summary: Path
    figures: Figures


def missing_model_figures(run_dir: Path) -> list[str]:
    """The model-based files a run folder lacks (older runs, or a run whose end was interrupted)."""
    layout = RunLayout(run_dir)
    wanted = [
        layout.file(MODEL_PROFILE_FILE),
        layout.plot(AUGMENTED_FIGURE),
        layout.plot(FEATURE_MAPS_FIGURE),
    ]
    missing = [path.name for path in wanted if not path.is_file()]
    # The error panel may be absent on purpose (no errors): its record in model_artifacts.json says so.
    info = layout.plots / ARTIFACTS_INFO_FILE
    recorded = info.is_file() and ERROR_CAMS_FIGURE in read_json(info)
    if not layout.plot(ERROR_CAMS_FIGURE).is_file() and not recorded:
        missing.append(layout.plot(ERROR_CAMS_FIGURE).name)
    return missing


def build_multilabel_report(run: RunFiles, console: Console, out: str | Path | None = None) -> ReportResult:
    """The report of a multi-label run: its figures from the run's files (no model-based figures yet), then
    ``report.html`` (or ``out``) and ``summary.md``."""
    figures = write_multilabel_figures(run)
    for name, reason in figures.skipped.items():
        console.print(f"[yellow]{name}.png skipped: {reason}[/]")
    html = write_report(run.run_dir, out, figures, render=render_multilabel_report)
    summary = write_summary(run.run_dir)
    console.print(f"report written to {html} (summary: {summary})")
    return ReportResult(html=html, summary=summary, figures=figures)


def build_report(
    run_dir: str | Path,
    model_figures: Callable[[Path], object],
    console: Console,
    out: str | Path | None = None,
) -> ReportResult:
    """Draw the figures of a run and write ``report.html`` (or ``out``) and ``summary.md``.

    Args:
        run_dir: the run folder.
        model_figures: draws the missing model-based figures of a run folder; a :class:`RunDirError` or
            :class:`WeightsError` from it (no usable checkpoint) leaves those figures out with the reason.
        console: where notes go.
        out: the HTML file (default ``RUN_DIR/report.html``).

    Raises:
        RunDirError: ``run_dir`` is not a run folder (no config.yaml) or a file in it is malformed.
    """
    run_dir = Path(run_dir)
    run = load_run(run_dir)  # fails early, with the reason, on a folder that is not a run
    if is_multilabel(run):
        return build_multilabel_report(run, console, out)
    model_failure = None
    if missing_model_figures(run_dir):
        try:
            model_figures(run_dir)
        except (RunDirError, WeightsError) as exc:
            model_failure = f"it needs the model ({exc})"
    figures = write_run_figures(load_run(run_dir))
    if model_failure is not None:
        for name in (AUGMENTED_FIGURE, FEATURE_MAPS_FIGURE, ERROR_CAMS_FIGURE):
            if not RunLayout(run_dir).plot(name).is_file():
                figures.skipped[name] = model_failure
    for name, reason in figures.skipped.items():
        console.print(f"[yellow]{name}.png skipped: {reason}[/]")
    html = write_report(run_dir, out, figures)
    summary = write_summary(run_dir)
    console.print(f"report written to {html} (summary: {summary})")
    return ReportResult(html=html, summary=summary, figures=figures)
