"""Option types of ``medclass train``'s data and shortcut flags, shared with ``tune`` (one definition each).

A command declares ``model: ModelOpt = None`` and passes the given flags to :func:`train_values`, which returns
the dotted config values (``None``: not given, the config's value stands).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

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
