"""Optimizer and learning-rate schedule from the config, in the form Lightning's configure_optimizers wants."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch.optim import lr_scheduler

from medclass.config.schema import OptimConfig, SchedulerConfig

# Warm-up starts at this fraction of the base learning rate and rises linearly to it.
WARMUP_START_FACTOR = 0.01


def build_optimizer(params: Iterable[torch.nn.Parameter], config: OptimConfig) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD (momentum, nesterov), all with weight decay.

    Frozen parameters can be included: they have no gradient, so the optimizer skips them until unfrozen.
    """
    params = list(params)
    if config.name == "adam":
        return torch.optim.Adam(params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)
    if config.name == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)
    return torch.optim.SGD(
        params,
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov and config.momentum > 0,
        weight_decay=config.weight_decay,
    )


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    config: SchedulerConfig,
    epochs: int,
    steps_per_epoch: int,
    monitor: str = "val_loss",
    monitor_mode: str = "min",
) -> list[dict[str, Any]]:
    """Lightning scheduler dicts for ``config``; empty for ``none`` without warm-up.

    Epoch-based schedules follow ``warmup_epochs`` of linear warm-up (SequentialLR). ``onecycle`` is stepped
    per batch and has its own warm-up (its ``pct_start`` is the warm-up share of the run). ``plateau`` watches
    the early-stopping monitor; its warm-up is a second, chained epoch scheduler.
    """
    warmup = min(config.warmup_epochs, max(epochs - 1, 0))
    if config.name == "onecycle":
        pct_start = warmup / epochs if warmup else 0.3
        schedule = lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=[group["lr"] for group in optimizer.param_groups],
            epochs=epochs,
            steps_per_epoch=max(steps_per_epoch, 1),
            pct_start=pct_start,
        )
        return [{"scheduler": schedule, "interval": "step"}]
    warmup_schedule = (
        lr_scheduler.LinearLR(optimizer, start_factor=WARMUP_START_FACTOR, total_iters=warmup)
        if warmup
        else None
    )
    if config.name == "plateau":
        plateau = lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=monitor_mode, factor=config.factor, patience=config.patience, min_lr=config.min_lr
        )
        entries = [{"scheduler": plateau, "interval": "epoch", "monitor": monitor}]
        if warmup_schedule is not None:
            entries.insert(0, {"scheduler": warmup_schedule, "interval": "epoch"})
        return entries
    main = _epoch_schedule(optimizer, config, epochs - warmup)
    if main is None and warmup_schedule is None:
        return []
    if main is None:
        schedule = warmup_schedule
    elif warmup_schedule is None:
        schedule = main
    else:
        schedule = lr_scheduler.SequentialLR(optimizer, [warmup_schedule, main], milestones=[warmup])
    return [{"scheduler": schedule, "interval": "epoch"}]


def _epoch_schedule(
    optimizer: torch.optim.Optimizer, config: SchedulerConfig, epochs: int
) -> lr_scheduler.LRScheduler | None:
    if config.name == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1), eta_min=config.min_lr)
    if config.name == "step":
        return lr_scheduler.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
    if config.name == "multistep":
        return lr_scheduler.MultiStepLR(optimizer, milestones=config.milestones, gamma=config.gamma)
    return None
