"""``medclass train``: flags and YAML into a config, then :func:`medclass.api.train`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from medclass.cli.base import console
from medclass.cli.options import (
    AllowLeakageOpt,
    BatchSizeOpt,
    ConfigOpt,
    DataOpt,
    EpochsOpt,
    FoldOpt,
    FoldsOpt,
    GroupRegexOpt,
    ImageSizeOpt,
    LabelColumnsOpt,
    LrOpt,
    ModelOpt,
    NearDupOpt,
    RunSeedOpt,
    SetOpt,
    SplitsOpt,
    StrategyOpt,
    TestFracOpt,
    ValFracOpt,
    config_option,
    label_columns_value,
    split_values,
    train_values,
)
from medclass.config import build_config, config_yaml, merge_trees, read_config_tree, read_yaml
from medclass.config.recipes import recipe_tree
from medclass.utils.errors import RunDirError
from medclass.utils.offline import set_offline

TestDataOpt = Annotated[
    str | None,
    config_option(
        "data.test_path",
        "--test-data",
        help="A separate labelled test set (any layout): all of it is the test split, and only val is carved "
        "out of --data.",
    ),
]
RecipeOpt = Annotated[
    str | None,
    typer.Option(
        "--recipe",
        help="A named recipe under --config and the flags; `medclass recipes` lists them.",
        show_default="none: the built-in defaults",
    ),
]
RefitOpt = Annotated[
    bool | None,
    config_option(
        "trainer.refit",
        "--refit/--no-refit",
        help="After the first fit, train again on train+val for its best epoch count; test that model.",
    ),
]


def train(
    recipe: RecipeOpt = None,
    config: ConfigOpt = None,
    data: DataOpt = None,
    test_data: TestDataOpt = None,
    splits: SplitsOpt = None,
    strategy: StrategyOpt = None,
    val_frac: ValFracOpt = None,
    test_frac: TestFracOpt = None,
    folds: FoldsOpt = None,
    fold: FoldOpt = None,
    group_regex: GroupRegexOpt = None,
    allow_duplicate_leakage: AllowLeakageOpt = None,
    near_dup_distance: NearDupOpt = None,
    model: ModelOpt = None,
    image_size: ImageSizeOpt = None,
    epochs: EpochsOpt = None,
    batch_size: BatchSizeOpt = None,
    lr: LrOpt = None,
    refit: RefitOpt = None,
    label_columns: LabelColumnsOpt = None,
    seed: RunSeedOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Run folder.", show_default="runs/<name>")] = None,
    set_: SetOpt = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite/--no-overwrite", help="Replace an existing run folder.")
    ] = False,
    resume: Annotated[
        bool, typer.Option("--resume/--no-resume", help="Continue the interrupted run in --out.")
    ] = False,
    print_config: Annotated[
        bool,
        typer.Option(
            "--print-config", help="Print the resolved config (YAML, every default filled in) and exit."
        ),
    ] = False,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline/--no-offline",
            help="Use no network (as HF_HUB_OFFLINE=1): pretrained weights only from the torch hub / Hugging "
            "Face caches; model.pretrained: auto trains from scratch without them.",
        ),
    ] = False,
) -> None:
    """Train a classifier and evaluate it on the test split (results in the run folder)."""
    tree = merge_trees(recipe_tree(recipe) if recipe else {}, read_config_tree(config) if config else {})
    if resume:
        if out is None:
            raise RunDirError("--resume needs --out RUN_DIR (the run to continue)")
        from medclass.api.keywords import resumed_config_file

        tree = read_yaml(resumed_config_file(out))  # the run's saved config, as medclass.train(resume=True)
    values = {
        **train_values(data, splits, model, image_size, epochs, batch_size, lr, seed),
        "split.fold": fold,
        "data.test_path": test_data,
        "trainer.refit": refit,
        "data.labels": label_columns_value(label_columns),
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
    if print_config:
        sys.stdout.write(config_yaml(cfg))  # plain text: YAML for a file or a pipe, no rich markup or emoji
        return
    from medclass.api.train import train as run_training
    from medclass.cli.interrupt import InterruptWatch

    if offline:
        set_offline()

    watch = InterruptWatch()
    try:
        run_training(cfg, overwrite=overwrite, resume=resume, callbacks=[watch], console=console)
    except (KeyboardInterrupt, SystemExit) as exc:
        # Lightning turns Ctrl-C during fit into sys.exit(1); the watch tells it apart from other exits.
        if isinstance(exc, SystemExit) and not watch.interrupted:
            raise
        raise watch.interruption(out if resume else None) from exc
