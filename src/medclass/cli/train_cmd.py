"""``medclass train``: flags and YAML into a config, then :func:`medclass.api.train`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medclass.cli.base import app, console
from medclass.cli.options import (
    AllowLeakageOpt,
    ConfigOpt,
    FoldsOpt,
    GroupRegexOpt,
    NearDupOpt,
    SetOpt,
    StrategyOpt,
    TestFracOpt,
    ValFracOpt,
    split_values,
)
from medclass.config import build_config, read_config_tree, read_yaml
from medclass.utils.errors import RunDirError


@app.command()
def train(
    config: ConfigOpt = None,
    data: Annotated[
        str | None, typer.Option("--data", help="Data folder (any layout) or CSV manifest.")
    ] = None,
    splits: Annotated[
        Path | None, typer.Option("--splits", help="Use this splits.csv instead of splitting.")
    ] = None,
    strategy: StrategyOpt = None,
    val_frac: ValFracOpt = None,
    test_frac: TestFracOpt = None,
    folds: FoldsOpt = None,
    fold: Annotated[int | None, typer.Option("--fold", help="Validation fold with --strategy kfold.")] = None,
    group_regex: GroupRegexOpt = None,
    allow_duplicate_leakage: AllowLeakageOpt = False,
    near_dup_distance: NearDupOpt = None,
    model: Annotated[str | None, typer.Option("--model", help="Model name, timm:<name> or cnn.")] = None,
    image_size: Annotated[int | None, typer.Option("--image-size", help="Input size in pixels.")] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="Maximum epochs.")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Batch size.")] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Learning rate.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of splitting, shuffling and init.")] = None,
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
        "data.path": data,
        "split.splits_file": str(splits) if splits else None,
        "split.fold": fold,
        "model.name": model,
        "data.image_size": image_size,
        "trainer.epochs": epochs,
        "data.batch_size": batch_size,
        "optim.lr": lr,
        "seed": seed,
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
