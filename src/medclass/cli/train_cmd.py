"""``medclass train``: flags and YAML into a config, then :func:`medclass.api.train`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medclass.cli.base import app, console
from medclass.cli.options import (
    AllowLeakageOpt,
    BatchSizeOpt,
    ConfigOpt,
    DataOpt,
    EpochsOpt,
    FoldsOpt,
    GroupRegexOpt,
    ImageSizeOpt,
    LrOpt,
    ModelOpt,
    NearDupOpt,
    RunSeedOpt,
    SetOpt,
    SplitsOpt,
    StrategyOpt,
    TestFracOpt,
    ValFracOpt,
    split_values,
    train_values,
)
from medclass.config import build_config, read_config_tree, read_yaml
from medclass.utils.errors import RunDirError


@app.command()
def train(
    config: ConfigOpt = None,
    data: DataOpt = None,
    splits: SplitsOpt = None,
    strategy: StrategyOpt = None,
    val_frac: ValFracOpt = None,
    test_frac: TestFracOpt = None,
    folds: FoldsOpt = None,
    fold: Annotated[int | None, typer.Option("--fold", help="Validation fold with --strategy kfold.")] = None,
    group_regex: GroupRegexOpt = None,
    allow_duplicate_leakage: AllowLeakageOpt = False,
    near_dup_distance: NearDupOpt = None,
    model: ModelOpt = None,
    image_size: ImageSizeOpt = None,
    epochs: EpochsOpt = None,
    batch_size: BatchSizeOpt = None,
    lr: LrOpt = None,
    seed: RunSeedOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Run folder (default runs/<name>).")] = None,
    set_: SetOpt = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing run folder.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the interrupted run in --out.")] = False,
) -> None:
    """Train a classifier and evaluate it on the test split (results in the run folder)."""
    from medclass.api.train import train as run_training

    tree = read_config_tree(config) if config else {}
    if resume:
        if out is None:
            raise RunDirError("--resume needs --out RUN_DIR (the run to continue)")
        saved = out / "config.yaml"
        if not saved.is_file():
            raise RunDirError(f"{out}: not a run folder to resume (no config.yaml)")
        tree = read_yaml(saved)
    values = {
        **train_values(data, splits, model, image_size, epochs, batch_size, lr, seed),
        "split.fold": fold,
        "out": str(out) if out else None,
        **split_values(
            strategy,
            val_frac,
            test_frac,
            None,
            folds,
            group_regex,
            allow_duplicate_leakage,
            near_dup_distance,
        ),
    }
    cfg = build_config(tree, set_ or [], values, source=str(config or "flags"))
    run_training(cfg, overwrite=overwrite, resume=resume, console=console)
