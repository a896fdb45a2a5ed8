"""``medclass inspect`` and ``medclass split`` as Python functions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from medclass.config.schema import Config
from medclass.data.inspect import inspect_data, render_inspect
from medclass.data.run_data import split_index
from medclass.data.splits import split_summary, write_splits
from medclass.data.test_data import discover_run_data
from medclass.runs import prepare_output_file
from medclass.utils.errors import DataError
from medclass.utils.io import write_json


def inspect(
    data: str | Path,
    near_dup_distance: int | None = None,
    json_out: str | Path | None = None,
    progress: bool = False,
    overwrite: bool = False,
    console: Console | None = None,
    label_columns: list[str] | None = None,
) -> dict[str, Any]:
    """Data-quality report of a data set (see :func:`medclass.data.inspect.inspect_data`), optionally as JSON.

    Args:
        data: the data folder (any layout) or CSV manifest.
        near_dup_distance: perceptual-hash distance of near duplicates (default in :mod:`medclass.data.duplicates`).
        json_out: also write the full report (every group) here; an existing file only with ``overwrite``.
        progress: show the scan's progress.
        overwrite: replace an existing ``json_out``.
        console: print the report there as tables (counts, images, bad files, duplicate groups).
        label_columns: multi-label: the label names (``--label-columns``; see ``data.labels``).

    Returns:
        The report as a JSON-ready dict.
    """
    if json_out is not None:
        prepare_output_file(json_out, overwrite=overwrite, flag="--json")
    report = inspect_data(data, near_distance=near_dup_distance, progress=progress, label_names=label_columns)
    if json_out is not None:
        write_json(json_out, report)
    if console is not None:
        render_inspect(report, console)
    return report


def split(
    config: Config,
    out: str | Path = "splits.csv",
    progress: bool = False,
    overwrite: bool = False,
    console: Console | None = None,
) -> Any:
    """Split ``config.data.path`` and write the table to ``out``.

    Args:
        config: the data and split settings (``data``, ``split``, ``seed``).
        out: the splits CSV; an existing file is replaced only with ``overwrite``.
        progress: show the scan's progress.
        overwrite: replace an existing ``out``.
        console: print the images per class and split there.

    Returns:
        The split table (a pandas DataFrame: ``path, label, split[, fold][, group]``); notes on what was done
        are in ``table.attrs["notes"]``, the strategy used in ``table.attrs["strategy"]``.

    Raises:
        DataError: no data given, or unusable data.
    """
    if not config.data.path:
        raise DataError("no data given: pass DATA (a folder or CSV manifest) or set data.path in --config")
    prepare_output_file(out, overwrite=overwrite)
    table, _ = split_index(config, discover_run_data(config), progress)
    write_splits(table, out)
    if console is not None:
        print_split_counts(table, table.attrs.get("strategy", config.split.strategy), console)
    return table


def print_split_counts(table: Any, strategy: str, console: Console) -> None:
    """Images per class (rows) and split (columns), with totals, as a table titled with the strategy."""
    summary = split_summary(table)
    view = Table("class", *summary.columns, title=f"Split ({strategy})")
    for label, row in summary.iterrows():
        view.add_row(str(label), *(str(int(v)) for v in row), style="bold" if label == "total" else None)
    console.print(view)
