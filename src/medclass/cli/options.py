"""Option types shared by several commands: train's data and shortcut flags (``train``, ``tune``,
``compare``) and the split options (``split``, ``train``, ``tune``).

Each is an ``Annotated`` type, so a command declares ``strategy: StrategyOpt = None`` and the flag name,
help text and validation are defined once. ``None`` means "not given": the config's value stands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

StrategyOpt = Annotated[
    str | None,
    typer.Option(
        "--strategy",
        help="auto | stratified | sorted-id | kfold | group | predefined (auto: the layout's own splits, "
        "else stratified).",
    ),
]
ValFracOpt = Annotated[float | None, typer.Option("--val-frac", help="Fraction of images for validation.")]
TestFracOpt = Annotated[float | None, typer.Option("--test-frac", help="Fraction of images for test.")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Random seed.")]
FoldsOpt = Annotated[int | None, typer.Option("--folds", help="Number of folds for --strategy kfold.")]
GroupRegexOpt = Annotated[
    str | None,
    typer.Option("--group-regex", help="Regex on the file name giving the patient/group id (group 1)."),
]
AllowLeakageOpt = Annotated[
    bool,
    typer.Option(
        "--allow-duplicate-leakage",
        help="Let exact/near duplicates fall into different splits (off: they are kept together).",
    ),
]
NearDupOpt = Annotated[
    int | None,
    typer.Option(
        "--near-dup-distance", help="Perceptual-hash Hamming distance that counts as near-duplicate."
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override any config key: --set optim.lr=0.001 (repeatable)."),
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="YAML config file.")]


def split_values(
    strategy: str | None = None,
    val_frac: float | None = None,
    test_frac: float | None = None,
    seed: int | None = None,
    folds: int | None = None,
    group_regex: str | None = None,
    allow_duplicate_leakage: bool = False,
    near_dup_distance: int | None = None,
) -> dict[str, Any]:
    """Dotted config values for the split flags that were given (unset flags are left out)."""
    values = {
        "split.strategy": strategy,
        "split.val_frac": val_frac,
        "split.test_frac": test_frac,
        "split.seed": seed,
        "split.folds": folds,
        "split.group_regex": group_regex,
        "split.allow_duplicate_leakage": True if allow_duplicate_leakage else None,
        "split.near_dup_distance": near_dup_distance,
    }
    return {key: value for key, value in values.items() if value is not None}


DataOpt = Annotated[str | None, typer.Option("--data", help="Data folder (any layout) or CSV manifest.")]
SplitsOpt = Annotated[Path | None, typer.Option("--splits", help="Use this splits.csv instead of splitting.")]
ModelOpt = Annotated[str | None, typer.Option("--model", help="Model name, timm:<name> or cnn.")]
ImageSizeOpt = Annotated[int | None, typer.Option("--image-size", help="Input size in pixels.")]
EpochsOpt = Annotated[int | None, typer.Option("--epochs", help="Maximum epochs.")]
BatchSizeOpt = Annotated[int | None, typer.Option("--batch-size", help="Batch size.")]
LrOpt = Annotated[float | None, typer.Option("--lr", help="Learning rate.")]
RunSeedOpt = Annotated[int | None, typer.Option("--seed", help="Seed of splitting, shuffling and init.")]


def train_values(
    data: str | None = None,
    splits: Path | None = None,
    model: str | None = None,
    image_size: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """Dotted config values for the data and shortcut flags that were given (unset flags are left out)."""
    values = {
        "data.path": data,
        "split.splits_file": str(splits) if splits else None,
        "model.name": model,
        "data.image_size": image_size,
        "trainer.epochs": epochs,
        "data.batch_size": batch_size,
        "optim.lr": lr,
        "seed": seed,
    }
    return {key: value for key, value in values.items() if value is not None}
