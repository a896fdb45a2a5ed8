"""``medclass split``: write splits.csv (train/val/test or folds) for a data set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medclass.cli.base import console, err_console
from medclass.cli.options import (
    AllowLeakageOpt,
    ConfigOpt,
    FoldsOpt,
    GroupRegexOpt,
    NearDupOpt,
    OverwriteFileOpt,
    SeedOpt,
    SetOpt,
    StrategyOpt,
    TestFracOpt,
    ValFracOpt,
    split_values,
)


def split(
    data: Annotated[
        str | None,
        typer.Argument(
            help="Data folder (any layout) or CSV manifest.", show_default="data.path of --config"
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Where to write the splits CSV.")] = Path("splits.csv"),
    strategy: StrategyOpt = None,
    val_frac: ValFracOpt = None,
    test_frac: TestFracOpt = None,
    seed: SeedOpt = None,
    folds: FoldsOpt = None,
    group_regex: GroupRegexOpt = None,
    allow_duplicate_leakage: AllowLeakageOpt = None,
    near_dup_distance: NearDupOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    overwrite: OverwriteFileOpt = False,
) -> None:
    """Split the readable images into train/val/test (or k folds), duplicates and groups kept together."""
    values = {
        "data.path": data,
        **split_values(
            strategy,
            val_frac,
            test_frac,
            seed,
            folds,
            group_regex,
            allow_duplicate_leakage,
            near_dup_distance,
        ),
    }
    from medclass.api.data import split as run_split
    from medclass.config import load_config

    cfg = load_config(config, overrides=set_ or [], values=values)
    table = run_split(cfg, out, progress=console.is_terminal, overwrite=overwrite, console=console)
    for note in table.attrs.get("notes", []):
        err_console.print(f"note: {note}", highlight=False)
    console.print(f"{len(table)} images written to {out}")
