"""``medclass compare``: run an experiment grid (resumably) or take finished runs, and compare them.

Output folder::

    comparison.csv        one row per variant: test metrics with CIs (or mean/std over seeds), best epoch,
                          parameters, GMACs, training time, McNemar against the best variant
    comparison.md         the same as a Markdown table with its legend
    comparison.html       the table and plots in one self-contained page (the run report's style)
    comparison_long.csv   variant, metric, value, ci_low, ci_high (what the bar plots show)
    plots/                bars_<metric>.png (with CIs), curves_<column>.png (learning curves overlaid)
    <variant>/seed-<s>/   the run folders (grid mode)
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from medclass.api.train import train
from medclass.campaigns.comparison import (
    TABLE_HEADER,
    Comparison,
    compare_runs,
    cost_cells,
    legend,
    mcnemar_cell,
    metric_cell,
    to_markdown,
)
from medclass.campaigns.grid import load_grid, plan_runs, run_grid
from medclass.config import apply_overrides, build_config
from medclass.reporting.comparison_report import write_comparison_page
from medclass.reporting.plots_campaigns import plot_comparison
from medclass.runs import prepare_output_dir
from medclass.training.tracking import log_summary
from medclass.utils.console import default_console
from medclass.utils.errors import ConfigError

COMPARE_ROOT = Path("runs") / "compare"


COMPARISON_FILE = "comparison.csv"


@dataclass
class CompareResult:
    """Where the comparison went and what it found."""

    out_dir: Path
    comparison: Comparison
    table_csv: Path
    table_md: Path
    plots: list[Path]
    runs: dict[str, list[Path]]


def default_out(experiments: str | Path | None) -> Path:
    """``runs/compare/<grid name>`` (stable, so the same command resumes) or a dated folder for run folders."""
    if experiments is not None:
        return COMPARE_ROOT / Path(experiments).stem
    return COMPARE_ROOT / time.strftime("compare-%Y%m%d-%H%M%S")


def variant_names(run_dirs: Sequence[str | Path]) -> dict[str, list[Path]]:
    """``{name: [run dir]}`` for given run folders: the folder name, or its last two parts when names repeat."""
    paths = [Path(p) for p in run_dirs]
    names = [p.name for p in paths]
    if len(set(names)) < len(names):
        names = [str(Path(*p.parts[-2:])) for p in paths]
    if len(set(names)) < len(names):
        names = [str(p) for p in paths]
    return {name: [path] for name, path in zip(names, paths, strict=True)}


def write_comparison_html(
    comparison: Comparison,
    figures: Sequence[Path],
    path: Path,
    metrics: Sequence[str] = ("accuracy", "balanced_accuracy", "macro_f1", "auroc"),
) -> Path:
    """The comparison as one self-contained HTML page (table, legend and plots), styled as the run report."""
    table = comparison.table
    headers = ["variant", *metrics, *TABLE_HEADER, f"McNemar p vs {comparison.best}"]
    rows = [
        [
            row["variant"],
            *(metric_cell(row, m) for m in metrics),
            *cost_cells(row),
            "best" if row["variant"] == comparison.best else mcnemar_cell(row),
        ]
        for _, row in table.iterrows()
    ]
    subtitle = f"{len(table)} variants, best by test {comparison.primary}: {comparison.best}"
    best = [v == comparison.best for v in table["variant"]]
    return write_comparison_page(path, subtitle, headers, rows, best, legend(comparison), figures)


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
        out: output folder (default :func:`default_out`).
        repeats: seeds per variant (overrides the grid's ``repeats``).
        overrides: ``--set`` strings applied to the grid's base config.
        values: flag values applied to the base config (e.g. ``{"data.path": ...}``).
        console: where progress and the table go.

    Returns:
        The :class:`CompareResult`.

    Raises:
        ConfigError: both or neither of run folders and a grid, or a bad grid; RunDirError / DataError: from
        the runs (unfinished, tested on different images).
    """
    console = console or default_console()
    if bool(run_dirs) == (experiments is not None):
        raise ConfigError("give either run folders to compare or --experiments GRID.yaml (not both)")
    if experiments is None and (overrides or repeats or any(v is not None for v in (values or {}).values())):
        raise ConfigError(
            "--set, --data and --repeats apply to a grid: use them with --experiments GRID.yaml"
        )
    out_dir = Path(out) if out is not None else default_out(experiments)
    prepare_output_dir(out_dir, "compare", reuse=True, legacy=(COMPARISON_FILE,))
    tracking_config = None
    if experiments is not None:
        grid = load_grid(experiments)
        planned = plan_runs(grid, out_dir, overrides, values, repeats)
        runs = run_grid(planned, train, console)
        tracking_config = build_config(apply_overrides(grid.base, overrides, values), source=grid.source)
    else:
        runs = variant_names(run_dirs)
    if len(runs) < 2:
        raise ConfigError(f"compare needs at least two variants, got {len(runs)}")
    comparison = compare_runs(runs)
    table_csv = out_dir / COMPARISON_FILE
    comparison.table.to_csv(table_csv, index=False, float_format="%.6g")
    comparison.long.to_csv(out_dir / "comparison_long.csv", index=False, float_format="%.6g")
    table_md = out_dir / "comparison.md"
    table_md.write_text(f"# Comparison\n\n{to_markdown(comparison)}")
    curves = {
        (variant if len(dirs) == 1 else f"{variant} #{i + 1}"): pd.read_csv(d / "metrics.csv")
        for variant, dirs in runs.items()
        for i, d in enumerate(map(Path, dirs))
    }
    written = plot_comparison(comparison.long, curves, out_dir / "plots")
    write_comparison_html(comparison, written, out_dir / "comparison.html")
    if tracking_config is not None:
        best = comparison.table.set_index("variant").loc[comparison.best]
        log_summary(
            tracking_config,
            out_dir,
            params={"grid": str(experiments), "variants": ",".join(runs), "best": comparison.best},
            metrics={f"best_test_{comparison.primary}": float(best[comparison.primary])},
            files=[table_csv, table_md, out_dir / "comparison_long.csv", *written],
        )
    console.print(to_markdown(comparison), markup=False, highlight=False)
    console.print(f"comparison written to {table_csv} and {table_md}")
    return CompareResult(
        out_dir, comparison, table_csv, table_md, written, {k: list(map(Path, v)) for k, v in runs.items()}
    )
