"""``medclass inspect`` and ``medclass split`` as Python functions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from medclass.config.schema import Config
from medclass.data.inspect import inspect_data
from medclass.data.run_data import split_index
from medclass.data.splits import write_splits
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
) -> dict[str, Any]:
    """Data-quality report of a data set (see :func:`medclass.data.inspect.inspect_data`), optionally as JSON
    (an existing ``json_out`` is replaced only with ``overwrite``)."""
    if json_out is not None:
        prepare_output_file(json_out, overwrite=overwrite, flag="--json")
    report = inspect_data(data, near_distance=near_dup_distance, progress=progress)
    if json_out is not None:
        write_json(json_out, report)
    return report


def split(
    config: Config, out: str | Path = "splits.csv", progress: bool = False, overwrite: bool = False
) -> pd.DataFrame:
    """Split ``config.data.path`` and write the table to ``out`` (an existing file is replaced only with
    ``overwrite``); notes on what was done are in ``table.attrs["notes"]``."""
    if not config.data.path:
        raise DataError("no data given: pass DATA (a folder or CSV manifest) or set data.path in --config")
    prepare_output_file(out, overwrite=overwrite)
    table, _ = split_index(config, discover_run_data(config), progress)
    write_splits(table, out)
    return table
