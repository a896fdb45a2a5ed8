"""``medclass explain``: heat maps of where a model looked, per image, with an index CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medclass.cli.base import console

METHOD_HELP = (
    "gradcam | gradcam++ | scorecam | eigencam (pytorch-grad-cam), saliency | integrated-gradients (captum), "
    "feature-maps (activation grids per stage)."
)


def explain(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint file or run folder (its best checkpoint).")],
    paths: Annotated[list[Path], typer.Argument(help="Image files or folders (searched recursively).")],
    method: Annotated[str, typer.Option("--method", help=METHOD_HELP)] = "gradcam",
    target: Annotated[
        str | None,
        typer.Option("--target", help="Class name or index to explain.", show_default="the predicted class"),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder.", show_default="explanations/<method>")
    ] = None,
    layer: Annotated[
        str | None,
        typer.Option("--layer", help="Target layer, a module name.", show_default="chosen per model family"),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Images per pass.")] = 8,
) -> None:
    """Explain predictions: overlay PNG and raw map (.npy) per image, named after the file, plus explanations.csv."""
    from medclass.api.explain import explain as run_explain

    run_explain(
        checkpoint,
        paths,
        method=method,
        target=target,
        layer=layer,
        out=out,
        batch_size=batch_size,
        console=console,
    )
