"""``medclass train``: data preparation, fitting, and the test evaluation, into one run folder."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from rich.console import Console

from medclass.api.artifacts import write_model_artifacts
from medclass.api.decision import Decision, fit_decision, store_decision
from medclass.api.evaluate import decision_blocks, score
from medclass.api.prepare import PreparedData, prepare_data, split_counts
from medclass.api.report import report
from medclass.api.rundir import prepare_run_dir, resolve_run_dir
from medclass.config import Config, config_to_dict, save_config
from medclass.data.datamodule import MedDataModule
from medclass.data.preprocess import PreprocessSettings
from medclass.evaluation.predictions import predict_logits, prediction_table, softmax
from medclass.models import create_model, freeze_backbone, model_args
from medclass.training.checkpoint import CheckpointMeta, load_for_inference, read_checkpoint
from medclass.training.fit import fit
from medclass.training.losses import class_weights
from medclass.training.module import LitClassifier
from medclass.training.tracking import build_loggers, log_run_artifacts
from medclass.utils.console import default_console
from medclass.utils.errors import DataError, MedclassError
from medclass.utils.io import write_json
from medclass.utils.seed import seed_everything

TEST_METRICS_FILE = "test_metrics.json"
TEST_PREDICTIONS_FILE = "predictions_test.csv"


@dataclass
class TrainResult:
    """Where a finished run put its results."""

    run_dir: Path
    best_checkpoint: Path
    test_metrics: dict[str, Any] | None
    metrics: pd.DataFrame


def build_datamodule(config: Config, data: PreparedData) -> MedDataModule:
    """The data module of a prepared data set; refuses an empty validation split."""
    table = data.training_table(config.split)
    if not (table["split"] == "val").any():
        raise DataError("the validation split is empty: raise --val-frac or add a val folder/CSV split")
    return MedDataModule(data.cache, table, data.classes, config.data, config.augment, config.seed)


def build_module(config: Config, datamodule: MedDataModule) -> LitClassifier:
    """The model, loss, optimizer and checkpoint metadata for ``config``."""
    num_classes = len(datamodule.classes)
    model = create_model(
        config.model.name,
        num_classes=num_classes,
        in_chans=config.data.channels,
        pretrained=config.model.pretrained,
        drop_rate=config.model.drop_rate,
        weights=config.model.weights,
        cnn=config.model.cnn,
        image_size=config.data.image_size,
        **config.model.kwargs,
    )
    if config.model.freeze_backbone:
        freeze_backbone(model, True)
    meta = CheckpointMeta(
        model=model_args(model),
        classes=datamodule.classes,
        preprocess={
            **PreprocessSettings.from_config(config.data).to_dict(),
            "mean": datamodule.mean,
            "std": datamodule.std,
        },
        config=config_to_dict(config),
    )
    samples = config.data.epoch_size or len(datamodule.rows["train"])
    module = LitClassifier(
        model,
        config,
        num_classes,
        class_weights=class_weights(config.loss.class_weights, datamodule.class_counts("train")),
        steps_per_epoch=math.ceil(samples / config.data.batch_size),
        meta=meta.to_dict(),
    )
    module.use_channels_last(use_channels_last(config))
    return module


def use_channels_last(config: Config) -> bool:
    """``auto``: channels_last for convolutional models, on the CPU too, where it trained every measured CNN
    1.14-1.48x faster (BENCHMARKS.md, "channels_last on the CPU"); not for transformers, whose only
    convolution is the patch embedding."""
    setting = config.model.channels_last
    if setting != "auto":
        return bool(setting)
    name = config.model.name.removeprefix("timm:")
    return not name.startswith(("vit", "deit", "swin", "beit", "eva"))


def describe_choices(config: Config, data: PreparedData, datamodule: MedDataModule, console: Console) -> None:
    """Print what the run will do: data, splits, model and training settings."""
    report = data.report
    counts = split_counts(data.training_table(config.split))
    console.print(
        f"[bold]data[/] {report['data']} ({report['layout']}), classes {data.classes}, "
        f"{report['n_images']} images; skipped {len(report['skipped'])} unreadable"
    )
    for split in ("train", "val", "test"):
        if split in counts:
            console.print(f"  {split:5s} {sum(counts[split].values()):5d}  {counts[split]}")
    dup = report["duplicates"]
    console.print(
        f"  duplicates: {dup['exact']['groups']} exact and {dup['near']['groups']} near groups "
        f"(distance <= {dup['near_distance']}), {report['duplicate_policy']}"
    )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    console.print(
        f"[bold]model[/] {config.model.name} ({config.data.channels} channel(s), {config.data.image_size} px, "
        f"pretrained={config.model.pretrained}) | {config.optim.name} lr {config.optim.lr:g} "
        f"wd {config.optim.weight_decay:g} | {config.scheduler.name} | batch {config.data.batch_size} | "
        f"{config.trainer.epochs} epochs, early stop on {config.trainer.monitor} "
        f"(patience {config.trainer.patience}) | augment {config.augment.preset} | {device}, "
        f"{datamodule.num_workers} loader workers"
    )


def fit_val_decision(checkpoint: Path, datamodule: MedDataModule, config: Config) -> Decision:
    """Fit the temperature (``evaluation.calibrate``) and the binary threshold (``evaluation.operating_point``)
    on the validation split with the best checkpoint, and store both in that checkpoint."""
    model, meta = load_for_inference(checkpoint)
    logits = predict_logits(model, datamodule.val_dataloader())
    decision = fit_decision(
        logits,
        datamodule.targets["val"],
        meta.classes,
        calibrate=config.evaluation.calibrate,
        operating_point=config.evaluation.operating_point,
    )
    store_decision(checkpoint, decision)
    return decision


def evaluate_test_split(
    checkpoint: Path,
    datamodule: MedDataModule,
    config: Config,
    run_dir: Path,
    decision: Decision | None = None,
) -> dict[str, Any] | None:
    """Score the best checkpoint on the test split; writes test_metrics.json and predictions_test.csv.

    The probabilities use the checkpoint's temperature and the decision its threshold (see
    :func:`fit_val_decision`); ``decision`` adds how they were chosen to the JSON.
    """
    if len(datamodule.rows["test"]) == 0:
        return None
    model, meta = load_for_inference(checkpoint)
    logits = predict_logits(model, datamodule.test_dataloader())
    probs = softmax(logits, meta.temperature)
    y_true = datamodule.targets["test"]
    result = score(y_true, probs, meta.classes, meta.threshold, config.evaluation.bootstrap, seed=config.seed)
    result.update(
        decision_blocks(decision or Decision(temperature=meta.temperature, threshold=meta.threshold))
    )
    result.update(checkpoint=str(checkpoint), split="test", best_epoch=checkpoint_epoch(checkpoint))
    write_json(run_dir / TEST_METRICS_FILE, result)
    paths = [datamodule.cache.paths[i] for i in datamodule.rows["test"]]
    table = prediction_table(paths, probs, meta.classes, meta.threshold)
    table.insert(1, "label", [meta.classes[i] for i in y_true])
    table.to_csv(run_dir / TEST_PREDICTIONS_FILE, index=False, float_format="%.6f")
    return result


def checkpoint_epoch(checkpoint: Path) -> int | None:
    """The 1-based epoch a checkpoint was saved at (as numbered in metrics.csv)."""
    epoch = read_checkpoint(checkpoint).get("epoch")
    return None if epoch is None else int(epoch) + 1


def finish_run(run_dir: Path, best: Path, config: Config, console: Console) -> Path | None:
    """The end-of-training figures that need the model, then (``evaluation.report``) report.html and summary.md.

    The run's results are already saved; a failure here is reported with the command that retries it, and
    does not turn a finished training into an error.
    """
    try:
        write_model_artifacts(run_dir, best, console=console)
        if config.evaluation.report:
            return report(run_dir, console=console).html
    except (MedclassError, OSError, ValueError) as exc:
        console.print(f"[bold yellow]report not written:[/] {exc}\n  retry with: medclass report {run_dir}")
    return None


def train(
    config: Config,
    *,
    overwrite: bool = False,
    resume: bool = False,
    callbacks: Sequence[L.Callback] = (),
    console: Console | None = None,
) -> TrainResult:
    """Train a classifier as ``config`` says and evaluate it on the test split.

    Args:
        config: the resolved run config (``data.path`` or ``split.splits_file`` must be set).
        overwrite: replace an existing run folder.
        resume: continue the run in ``config.out`` from its last checkpoint.
        callbacks: extra Lightning callbacks.
        console: where messages go.

    Returns:
        The run folder, best checkpoint, test metrics and per-epoch metrics.
    """
    console = console or default_console()
    run_dir = prepare_run_dir(resolve_run_dir(config), overwrite=overwrite, resume=resume)
    console.print(f"run folder: {run_dir}")
    save_config(config, run_dir / "config.yaml")
    seed_everything(config.seed)
    data = prepare_data(config, run_dir, reuse_splits=resume, console=console)
    datamodule = build_datamodule(config, data)
    describe_choices(config, data, datamodule, console)
    module = build_module(config, datamodule)
    loggers = build_loggers(config, run_dir)
    best = fit(module, datamodule, config, run_dir, resume=resume, callbacks=callbacks, loggers=loggers)
    decision = fit_val_decision(best, datamodule, config)
    describe_decision(decision, console)
    test_metrics = evaluate_test_split(best, datamodule, config, run_dir, decision)
    metrics = pd.read_csv(run_dir / "metrics.csv")
    if test_metrics is not None:
        console.print(
            f"[bold]test[/] accuracy {test_metrics['accuracy']:.4f}  macro-F1 {test_metrics['macro_f1']:.4f}  "
            f"AUROC {_fmt(test_metrics.get('auroc'))}  (n={test_metrics['n']}, best checkpoint {best.name})"
        )
    finish_run(run_dir, best, config, console)
    log_run_artifacts(loggers, run_dir)
    console.print(f"results in {run_dir}")
    return TrainResult(run_dir=run_dir, best_checkpoint=best, test_metrics=test_metrics, metrics=metrics)


def describe_decision(decision: Decision, console: Console) -> None:
    """Print the temperature and threshold chosen on the validation split, when any."""
    if decision.temperature != 1.0:
        console.print(
            f"[bold]calibration[/] temperature {decision.temperature:.3f} (val ECE {_fmt(decision.ece_before)} -> "
            f"{_fmt(decision.ece_after)})"
        )
    if decision.rule is not None:
        console.print(
            f"[bold]operating point[/] {decision.rule}: threshold {decision.threshold:.4f} (val sensitivity "
            f"{decision.sensitivity:.3f}, specificity {decision.specificity:.3f})"
        )


def _fmt(value: float | None) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.4f}"
