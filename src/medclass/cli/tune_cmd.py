"""``medclass tune``: an Optuna search over config keys (flags of train, plus the study's own)."""

from __future__ import annotations

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
from medclass.config import apply_overrides, read_config_tree
from medclass.utils.extras import require_extra


def tune(
    space: Annotated[Path, typer.Option("--space", help="Search space YAML (config key -> spec).")],
    config: ConfigOpt = None,
    trials: Annotated[
        int, typer.Option("--trials", min=1, help="Trials the study ends with (finished ones count).")
    ] = 20,
    folds: Annotated[
        int,
        typer.Option("--folds", min=1, help="K-fold cross-validation per trial (1: the config's own split)."),
    ] = 1,
    sampler: Annotated[str, typer.Option("--sampler", help="tpe | random | grid.")] = "tpe",
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            help="Study database URL, e.g. postgresql://...",
            show_default="sqlite:///OUT/study.db",
        ),
    ] = None,
    study: Annotated[
        str | None, typer.Option("--study", help="Study name.", show_default="the space file's name")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder.", show_default="runs/tune/<study>")
    ] = None,
    data: DataOpt = None,
    splits: SplitsOpt = None,
    strategy: StrategyOpt = None,
    val_frac: ValFracOpt = None,
    test_frac: TestFracOpt = None,
    group_regex: GroupRegexOpt = None,
    allow_duplicate_leakage: AllowLeakageOpt = None,
    near_dup_distance: NearDupOpt = None,
    model: ModelOpt = None,
    image_size: ImageSizeOpt = None,
    epochs: EpochsOpt = None,
    batch_size: BatchSizeOpt = None,
    lr: LrOpt = None,
    seed: RunSeedOpt = None,
    set_: SetOpt = None,
) -> None:
    """Search hyperparameters with Optuna; the same command resumes an interrupted study.

    Writes trials.csv, best.yaml (train it with `medclass train --config best.yaml`) and plots to --out.
    """
    require_extra("tune", "medclass tune")
    from medclass.api.tune import tune as run_tune

    values = {
        **train_values(data, splits, model, image_size, epochs, batch_size, lr, seed),
        **split_values(
            strategy, val_frac, test_frac, None, None, group_regex, allow_duplicate_leakage, near_dup_distance
        ),
    }
    base_tree = apply_overrides(read_config_tree(config) if config else {}, set_ or [], values)
    run_tune(
        base_tree,
        space,
        out,
        n_trials=trials,
        folds=folds,
        sampler=sampler,
        storage=storage,
        study_name=study,
        source=str(config or "flags"),
        console=console,
    )
