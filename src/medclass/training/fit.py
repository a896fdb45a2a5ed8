"""Assemble the Lightning Trainer for a run and fit a model; returns the best checkpoint."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, RichProgressBar, TQDMProgressBar

from medclass.config.schema import Config
from medclass.data.datamodule import MedDataModule
from medclass.runs import METRICS_FILE, RunLayout, monitor_mode
from medclass.training.callbacks import (
    EpochCheckpoint,
    EpochMetricsCSV,
    EpochSeed,
    EpochSummary,
    UnfreezeBackbone,
)
from medclass.training.module import LitClassifier
from medclass.training.precise_bn import PreciseBN, use_precise_bn


def resolve_precision(setting: str) -> str:
    """``auto``: 16-bit mixed precision on CUDA (bf16 where supported), full precision on CPU."""
    if setting != "auto":
        return setting
    if torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


def build_callbacks(config: Config, run_dir: Path, extra: Sequence[L.Callback] = ()) -> list[L.Callback]:
    """Checkpointing, early stopping, per-epoch CSV and summary, reseeding, unfreezing, plus ``extra``."""
    trainer_cfg = config.trainer
    mode = monitor_mode(trainer_cfg.monitor)
    layout = RunLayout(run_dir)
    callbacks: list[L.Callback] = [
        EpochSeed(config.seed),
        # best.ckpt: weights and medclass metadata only (what evaluate/predict need; no optimizer state, which
        # for Adam is twice the weights). last.ckpt: everything a resume needs.
        ModelCheckpoint(
            dirpath=layout.checkpoints,
            filename=layout.best_checkpoint.stem,
            monitor=trainer_cfg.monitor,
            mode=mode,
            save_top_k=1,
            save_weights_only=True,
            enable_version_counter=False,
            save_on_train_epoch_end=True,
        ),
        # Saved after the whole epoch (not after validation, inside it), last.ckpt is a clean epoch boundary: a
        # resumed run starts the next epoch with every callback's state of this one.
        ModelCheckpoint(
            dirpath=layout.checkpoints,
            filename=layout.last_checkpoint.stem,  # monitor None + top 1: the latest epoch, replaced every epoch
            save_top_k=1,
            enable_version_counter=False,
            save_on_train_epoch_end=True,
        ),
        EpochMetricsCSV(layout.file(METRICS_FILE)),
        EpochSummary(trainer_cfg.monitor, mode),
    ]
    if trainer_cfg.patience is not None:
        callbacks.append(EarlyStopping(monitor=trainer_cfg.monitor, mode=mode, patience=trainer_cfg.patience))
    if config.checkpoint.every_epoch:
        callbacks.append(EpochCheckpoint(layout.checkpoints))
    if config.model.freeze_backbone and config.model.unfreeze_after_epochs:
        callbacks.append(UnfreezeBackbone(config.model.unfreeze_after_epochs))
    if trainer_cfg.progress_bar:
        callbacks.append(_progress_bar())
    return [*callbacks, *extra]


def _progress_bar() -> L.Callback:
    try:
        return RichProgressBar(leave=False)
    except ModuleNotFoundError:  # rich is a dependency, but Lightning checks its own minimum version
        return TQDMProgressBar()


def build_trainer(
    config: Config, run_dir: Path, callbacks: Sequence[L.Callback], loggers: Sequence = ()
) -> L.Trainer:
    """A Trainer configured from ``config.trainer`` that writes into ``run_dir``."""
    trainer_cfg = config.trainer
    return L.Trainer(
        default_root_dir=run_dir,
        max_epochs=trainer_cfg.epochs,
        accelerator=trainer_cfg.accelerator,
        devices=trainer_cfg.devices,
        strategy=trainer_cfg.strategy,
        precision=resolve_precision(trainer_cfg.precision),
        gradient_clip_val=trainer_cfg.grad_clip_norm,
        gradient_clip_algorithm="norm",
        deterministic=config.deterministic,
        callbacks=list(callbacks),
        logger=list(loggers) or False,
        enable_progress_bar=trainer_cfg.progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_train_batches=trainer_cfg.limit_train_batches,
        log_every_n_steps=10,
    )


def fit(
    module: LitClassifier,
    datamodule: MedDataModule,
    config: Config,
    run_dir: Path,
    resume: bool = False,
    callbacks: Sequence[L.Callback] = (),
    loggers: Sequence = (),
) -> Path:
    """Train ``module`` and return the path of the best checkpoint.

    With ``resume``, training continues from ``run_dir/checkpoints/last.ckpt`` (optimizer, scheduler,
    early-stopping state and epoch counter included).
    """
    callbacks = list(callbacks)
    if use_precise_bn(config.trainer.precise_bn, module.steps_per_epoch, module.model):
        callbacks.append(PreciseBN(datamodule.stats_dataloader))
    # Lightning's start-up notes (GPU/TPU availability, advertising tips) are noise in medclass's output.
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
    trainer = build_trainer(config, run_dir, build_callbacks(config, run_dir, callbacks), loggers)
    last = RunLayout(run_dir).last_checkpoint
    with warnings.catch_warnings():
        # Lightning suggests more loader workers; on CPU-only machines the model needs the cores instead.
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*`isinstance.*LeafSpec.*")
        # A frozen backbone keeps its BatchNorm layers in eval mode on purpose (models.freeze_backbone).
        warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode at the start of training.*")
        trainer.fit(module, datamodule=datamodule, ckpt_path=last if resume and last.exists() else None)
    if trainer.interrupted:
        raise KeyboardInterrupt
    best = RunLayout(run_dir).best_checkpoint
    return best if best.exists() else last
