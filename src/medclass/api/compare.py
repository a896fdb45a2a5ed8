"""``medclass compare``: run an experiment grid (resumably) or take finished runs, and compare them.

Output folder (names: :mod:`medclass.runs.campaign_layout`)::

    comparison.csv        one row per variant: test metrics with CIs (or mean/std over seeds), best epoch,
                          parameters, GMACs, training time, McNemar against the best variant
    comparison.md         the same as a Markdown table with its legend
    comparison_per_label.csv  multi-label runs: per variant and label, the AUROC with its CI and DeLong's test
                          against the best run (by macro AUROC); comparison.csv then has macro/micro AUROC and
                          mAP instead of the single-label metrics and McNemar columns
    comparison.html       the table and plots in one self-contained page (the run report's style)
    comparison_long.csv   variant, metric, value, ci_low, ci_high (what the bar plots show)
    plots/                bars_<metric>.png (with CIs), curves_<column>.png (learning curves overlaid)
    <variant>/seed-<s>/   the run folders (grid mode)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from medclass.api.train import train
from medclass.campaigns.compare_outputs import (
    best_value,
    comparison_markdown,
    comparison_page,
    learning_curves,
    variant_names,
    write_comparison_tables,
)
from medclass.campaigns.comparison import Comparison, compare_runs, legend, load_finished_run
from medclass.campaigns.grid import load_grid, plan_runs, run_grid
from medclass.campaigns.label_comparison import LABEL_METRICS, all_multilabel, compare_label_runs
from medclass.config import apply_overrides, build_config
from medclass.reporting.comparison_report import write_comparison_page
from medclass.reporting.plots_campaigns import plot_comparison
from medclass.runs import prepare_output_dir
from medclass.runs.campaign_layout import (
    COMPARE_KIND,
    COMPARE_LEGACY_ENTRIES,
    ComparisonLayout,
    default_compare_dir,
)
from medclass.training.tracking import log_summary
from medclass.utils.console import default_console
from medclass.utils.errors import ConfigError


@dataclass
class CompareResult:
    """Where the comparison went and what it found."""

    out_dir: Path
    comparison: Comparison
    table_csv: Path
    table_md: Path
    plots: list[Path]
    runs: dict[str, list[Path]]


def compare(
    run_dirs: Sequence[str | Path] = (),
    experiments: str | Path | None = None,
    out: str | Path | None = None,
    repeats: int | None = None,
    overrides: Sequence[str] = (),
    values: Mapping[str, Any] | None = None,
    console: Console | None = None,
) -> CompareResult:
    """Compare finished runs, or run the grid of ``experiments`` first (finished runs are not redone).

    Args:
        run_dirs: finished run folders (each one variant), when no grid is given.
        experiments: GRID.yaml (see :mod:`medclass.campaigns.grid`).
        out: output folder (default ``runs/compare/<grid name>``, or a dated folder for run folders:
            :func:`medclass.runs.campaign_layout.default_compare_dir`).
        repeats: seeds per variant (overrides the grid's ``repeats``).
        overrides: ``--set`` strings applied to the grid's base config.
        values: flag values applied to the base config (e.g. ``{"data.path": ...}``).
        console: where progress and the table go.

    Returns:
        The :class:`CompareResult`.

    Raises:
        ConfigError: both or neither of run folders and a grid, a bad grid, or single- and multi-label runs
        mixed; RunDirError / DataError: from the runs (unfinished, tested on different images, with different
        labels).
    """
    console = console or default_console()
    if bool(run_dirs) == (experiments is not None):
        raise ConfigError("give either run folders to compare or --experiments GRID.yaml (not both)")
    if experiments is None and (overrides or repeats or any(v is not None for v in (values or {}).values())):
        raise ConfigError(
            "--set, --data and --repeats apply to a grid: use them with --experiments GRID.yaml"
        )
    if run_dirs:  # given run folders: one task type, checked before anything is written
        all_multilabel([load_finished_run(d) for d in run_dirs], "compare")
    layout = ComparisonLayout(Path(out) if out is not None else default_compare_dir(experiments))
    prepare_output_dir(layout.root, COMPARE_KIND, reuse=True, legacy=COMPARE_LEGACY_ENTRIES)
    tracking_config = None
    if experiments is not None:
        grid = load_grid(experiments)
        planned = plan_runs(grid, layout.root, overrides, values, repeats)
        runs = run_grid(planned, train, console)
        tracking_config = build_config(apply_overrides(grid.base, overrides, values), source=grid.source)
    else:
        runs = variant_names(run_dirs)
    if len(runs) < 2:
        raise ConfigError(f"compare needs at least two variants, got {len(runs)}")
    multilabel = all_multilabel([load_finished_run(d) for dirs in runs.values() for d in dirs], "compare")
    comparison = compare_label_runs(runs) if multilabel else compare_runs(runs)
    tables = write_comparison_tables(comparison, layout)
    bars = {"metrics": LABEL_METRICS, "curve_columns": ("val_loss", "val_auroc")} if multilabel else {}
    written = plot_comparison(comparison.long, learning_curves(runs), layout.plots, **bars)
    page = comparison_page(comparison)
    write_comparison_page(
        layout.html,
        page.subtitle,
        page.headers,
        page.rows,
        page.best_rows,
        page.legend or legend(comparison),
        written,
        page.sections,
    )
    if tracking_config is not None:
        log_summary(
            tracking_config,
            layout.root,
            params={"grid": str(experiments), "variants": ",".join(runs), "best": comparison.best},
            metrics={f"best_test_{comparison.primary}": best_value(comparison)},
            files=[*tables, *written],
        )
    console.print(comparison_markdown(comparison), markup=False, highlight=False)
    console.print(f"comparison written to {layout.table} and {layout.markdown}")
    return CompareResult(
        layout.root,
        comparison,
        layout.table,
        layout.markdown,
        written,
        {k: list(map(Path, v)) for k, v in runs.items()},
    )
