"""``medclass explain``: heat maps of where a model looked, per image, with an index CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medclass.cli.base import console
from medclass.utils.extras import require_extra

METHOD_HELP = (
    "gradcam | gradcam++ | hirescam | layercam | scorecam | eigencam (pytorch-grad-cam), "
    "saliency | integrated-gradients | occlusion (captum), feature-maps (activation grids per stage)."
)


def explain(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint file or run folder (its best checkpoint).")],
    paths: Annotated[list[Path], typer.Argument(help="Image files or folders (searched recursively).")],
    method: Annotated[
        str | None,
        typer.Option(
            "--method", help=METHOD_HELP, show_default="the model family's default (docs/explain.md)"
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            help="Class name or index to explain; 'true': each image's true class (the name of its folder); "
            "'predicted': each image's predicted class. A multi-label model: the label to explain (its own "
            "logit).",
            show_default="the predicted class; multi-label: a map per label",
        ),
    ] = None,
    contrast: Annotated[
        str | None,
        typer.Option(
            "--contrast",
            help="Explain the target class against this class (name or index): a contrastive map of the "
            "logit difference, what makes the image the target rather than this class.",
            show_default="none: the target's own score",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Output folder.", show_default="RUN_DIR/explanations/<method>"),
    ] = None,
    layer: Annotated[
        str | None,
        typer.Option(
            "--layer",
            help="Target layer, a module name.",
            show_default="the deepest stage with a feature map of at least 16x16 cells at the input size",
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Images per pass.")] = 8,
    faithfulness: Annotated[
        bool,
        typer.Option(
            "--faithfulness/--no-faithfulness",
            help="Add deletion_auc (lower is better) and insertion_auc (higher is better) per image to "
            "explanations.csv: the class probability as the most-attributed pixels are removed / inserted.",
        ),
    ] = False,
    sanity: Annotated[
        bool,
        typer.Option(
            "--sanity/--no-sanity",
            help="Also run the sanity checks (Adebayo et al. 2018) on the same images and classes: the maps of "
            "the model with its weights re-initialised (cascading from the top, and all) and, with "
            "--shuffled-model, of a model trained on shuffled labels; writes sanity.csv (median Spearman and "
            "SSIM against the trained model's maps; a method passes at median Spearman <= 0.3).",
        ),
    ] = False,
    shuffled_model: Annotated[
        Path | None,
        typer.Option(
            "--shuffled-model",
            help="With --sanity: a run folder or checkpoint of the same model trained on the same images with "
            "the labels shuffled (the data-randomisation check).",
            show_default="no data-randomisation check",
        ),
    ] = None,
) -> None:
    """Explain predictions: overlay PNG and raw map (.npy) per image, named after the file, plus explanations.csv."""
    if method != "feature-maps":  # every other method (and every default) is pytorch-grad-cam's or captum's
        require_extra("explain", f"medclass explain --method {method or 'default'}")
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
        faithfulness=faithfulness,
        sanity=sanity,
        shuffled_model=shuffled_model,
        contrast=contrast,
    )
