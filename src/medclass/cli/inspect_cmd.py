"""``medclass inspect``: data-quality report of a data set (counts, sizes, bad files, duplicates)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medclass.cli.base import console
from medclass.cli.options import LabelColumnsOpt, NearDupOpt, OverwriteFileOpt, label_columns_value


def inspect(
    data: Annotated[
        Path, typer.Argument(help="Data folder (any layout) or CSV manifest.", show_default=False)
    ],
    json_out: Annotated[
        Path | None,
        typer.Option(
            "--json", help="Also write the full report (every group) as JSON here.", show_default="none"
        ),
    ] = None,
    near_dup_distance: NearDupOpt = None,
    overwrite: OverwriteFileOpt = False,
    label_columns: LabelColumnsOpt = None,
) -> None:
    """Count images per class and split, check sizes and formats, list unreadable files and duplicates."""
    from medclass.api.data import inspect as run_inspect
    from medclass.config import build_config

    cfg = build_config(values={"split.near_dup_distance": near_dup_distance}, source="flags")
    run_inspect(
        data,
        cfg.split.near_dup_distance,
        json_out,
        progress=console.is_terminal,
        overwrite=overwrite,
        console=console,
        label_columns=label_columns_value(label_columns),
    )
    if json_out is not None:
        console.print(f"report written to {json_out}")
