"""What ``medclass compare`` writes from a :class:`~medclass.campaigns.comparison.Comparison`: the tables
(CSV, long CSV, Markdown), the rows of its HTML page, and the learning curves of its runs for the plots.

The folder's file names are those of :class:`medclass.runs.campaign_layout.ComparisonLayout`; the page and the
plots are drawn by :mod:`medclass.reporting` (called by :func:`medclass.api.compare.compare`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from medclass.campaigns.comparison import (
    TABLE_HEADER,
    Comparison,
    cost_cells,
    mcnemar_cell,
    metric_cell,
    to_markdown,
)
from medclass.campaigns.label_comparison import label_legend, label_markdown, label_tables
from medclass.runs import METRICS_FILE
from medclass.runs.campaign_layout import ComparisonLayout

PAGE_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "auroc")


@dataclass(frozen=True)
class ComparisonPage:
    """The content of the comparison's HTML page: a subtitle, the table (headers, rows, which row is the
    best variant)."""

    subtitle: str
    headers: list[str]
    rows: list[list[str]]
    best_rows: list[bool]
    legend: str = ""
    sections: tuple[tuple[str, list[str], list[list[str]]], ...] = ()  # more (title, headers, rows) tables


def variant_names(run_dirs: Sequence[str | Path]) -> dict[str, list[Path]]:
    """``{name: [run dir]}`` for given run folders: the folder name, or its last two parts when names repeat."""
    paths = [Path(p) for p in run_dirs]
    names = [p.name for p in paths]
    if len(set(names)) < len(names):
        names = [str(Path(*p.parts[-2:])) for p in paths]
    if len(set(names)) < len(names):
        names = [str(p) for p in paths]
    return {name: [path] for name, path in zip(names, paths, strict=True)}


def comparison_markdown(comparison: Comparison) -> str:
    """The comparison as Markdown: the single-label table (McNemar), or a multi-label comparison's two tables
    (per run, per label with DeLong's test)."""
    return to_markdown(comparison) if comparison.per_label is None else label_markdown(comparison)


def write_comparison_tables(comparison: Comparison, layout: ComparisonLayout) -> list[Path]:
    """Write comparison.csv, comparison_long.csv and comparison.md (and for multi-label runs
    comparison_per_label.csv); returns their paths in that order."""
    comparison.table.to_csv(layout.table, index=False, float_format="%.6g")
    comparison.long.to_csv(layout.long_table, index=False, float_format="%.6g")
    layout.markdown.write_text(f"# Comparison\n\n{comparison_markdown(comparison)}")
    written = [layout.table, layout.long_table, layout.markdown]
    if comparison.per_label is not None:
        comparison.per_label.to_csv(layout.per_label_table, index=False, float_format="%.6g")
        written.append(layout.per_label_table)
    return written


def learning_curves(runs: Mapping[str, Sequence[str | Path]]) -> dict[str, pd.DataFrame]:
    """Each run's ``metrics.csv`` by a label: the variant, with ``#k`` when the variant has several seeds."""
    return {
        (variant if len(dirs) == 1 else f"{variant} #{i + 1}"): pd.read_csv(Path(d) / METRICS_FILE)
        for variant, dirs in runs.items()
        for i, d in enumerate(dirs)
    }


def comparison_page(comparison: Comparison, metrics: Sequence[str] = PAGE_METRICS) -> ComparisonPage:
    """The table of the HTML page, with the cells of the Markdown table (CIs, cost, McNemar vs the best; for
    multi-label runs the runs' table and the per-label table with DeLong's test)."""
    table = comparison.table
    if comparison.per_label is not None:
        run_headers, run_rows, label_headers, label_rows = label_tables(comparison)
        return ComparisonPage(
            f"{len(table)} multi-label runs, best by test macro AUROC: {comparison.best}",
            run_headers,
            run_rows,
            [v == comparison.best for v in table["variant"]],
            label_legend(comparison),
            (("Per label: AUROC and DeLong's test against the best run", label_headers, label_rows),),
        )
    headers = ["variant", *metrics, *TABLE_HEADER, f"McNemar p vs {comparison.best}"]
    rows = [
        [
            str(row["variant"]),
            *(metric_cell(row, m) for m in metrics),
            *cost_cells(row),
            "best" if row["variant"] == comparison.best else mcnemar_cell(row),
        ]
        for _, row in table.iterrows()
    ]
    subtitle = f"{len(table)} variants, best by test {comparison.primary}: {comparison.best}"
    return ComparisonPage(subtitle, headers, rows, [v == comparison.best for v in table["variant"]])


def best_value(comparison: Comparison) -> float:
    """The best variant's test value of the primary metric."""
    return float(comparison.table.set_index("variant").loc[comparison.best, comparison.primary])
