"""``medclass evaluate``: metrics of a trained model on its test split or another labelled folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medclass.cli.base import console
from medclass.cli.options import OverwriteFileOpt, config_option
from medclass.utils.errors import ConfigError


def evaluate(
    source: Annotated[Path, typer.Argument(help="Run folder or checkpoint file.")],
    data: Annotated[
        str | None,
        typer.Option("--data", help="Labelled data set to evaluate on.", show_default="the run's own data"),
    ] = None,
    split: Annotated[str, typer.Option("--split", help="Split of the run to evaluate.")] = "test",
    epoch: Annotated[
        int | None,
        typer.Option("--epoch", min=1, help="Evaluate this epoch's checkpoint.", show_default="the best"),
    ] = None,
    all_epochs: Annotated[
        bool,
        typer.Option(
            "--all-epochs/--no-all-epochs",
            help="Evaluate every kept epoch=NN.ckpt and write a per-epoch table (best macro-F1 marked; "
            "multi-label: best macro AUROC).",
        ),
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the metrics JSON here.", show_default="do not write")
    ] = None,
    bootstrap: Annotated[
        int | None,
        config_option(
            "evaluation.bootstrap", "--bootstrap", help="Bootstrap resamples for CIs.", default="the run's"
        ),
    ] = None,
    operating_point: Annotated[
        str | None,
        config_option(
            "evaluation.operating_point",
            "--operating-point",
            help="Binary threshold rule chosen on the run's val split: youden, sensitivity=0.95, "
            "specificity=0.9; metrics are reported at 0.5 and at it.",
            default="the run's",
        ),
    ] = None,
    mc_dropout: Annotated[
        int | None,
        typer.Option(
            "--mc-dropout",
            min=0,
            help="MC-dropout passes: also report accuracy (multi-label: macro AUROC and mAP) when the most "
            "uncertain images are referred.",
            show_default="0 (off)",
        ),
    ] = None,
    tta: Annotated[
        int | None,
        typer.Option(
            "--tta",
            min=0,
            help="Score the mean of N test-time augmented views (flips, small shifts); the first is the image.",
            show_default="0 (off)",
        ),
    ] = None,
    overwrite: OverwriteFileOpt = False,
) -> None:
    """Evaluate a checkpoint: accuracy, F1, AUROC, per-class sensitivity/specificity with 95% CIs, calibration."""
    from medclass.api.evaluate import evaluate as run_evaluation
    from medclass.api.evaluate_epochs import evaluate_epochs

    if all_epochs:
        others = {
            "--epoch": epoch,
            "--bootstrap": bootstrap,
            "--operating-point": operating_point,
            "--mc-dropout": mc_dropout,
            "--tta": tta,
        }
        given = [flag for flag, value in others.items() if value is not None]
        if given:
            raise ConfigError(
                "--all-epochs scores every kept epoch at its stored decision rule, without CIs; "
                f"it cannot be combined with {', '.join(given)}"
            )
        evaluate_epochs(source, data=data, split=split, out=out, console=console)
        return
    run_evaluation(
        source,
        data=data,
        split=split,
        epoch=epoch,
        out=out,
        bootstrap=bootstrap,
        operating_point=operating_point,
        mc_dropout=mc_dropout,
        tta=tta or 0,
        console=console,
        overwrite=overwrite,
    )
