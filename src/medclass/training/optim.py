"""Optimizer and learning-rate schedule from the config, in the form Lightning's configure_optimizers wants."""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from typing import Any

import torch
from torch.optim import lr_scheduler

from medclass.config.schema import OptimConfig, SchedulerConfig
from medclass.models import get_classifier

# Warm-up starts at this fraction of the base learning rate and rises linearly to it.
WARMUP_START_FACTOR = 0.01


def parameter_groups(model: torch.nn.Module, config: OptimConfig) -> list[dict[str, Any]]:
    """The optimizer's parameter groups: one group at ``lr``, or with ``backbone_lr_scale < 1`` the classifier
    head at ``lr`` and the backbone at ``lr * backbone_lr_scale`` (discriminative learning rates: pretrained
    features move slowly while the new head learns fast, as in ULMFiT and fast.ai's fine-tuning)."""
    if config.backbone_lr_scale == 1.0:
        return [{"params": list(model.parameters())}]
    head = {id(p) for p in get_classifier(model).parameters()}
    backbone = [p for p in model.parameters() if id(p) not in head]
    return [
        {"params": backbone, "lr": config.lr * config.backbone_lr_scale},
        {"params": [p for p in model.parameters() if id(p) in head], "lr": config.lr},
    ]


def build_optimizer(
    params: Iterable[torch.nn.Parameter] | list[dict[str, Any]], config: OptimConfig
) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD (momentum, nesterov), all with weight decay, over parameters or parameter groups
    (:func:`parameter_groups`; a group's own ``lr`` wins over ``config.lr``).

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

    Epoch-based schedules follow ``warmup_epochs`` of linear warm-up. ``onecycle`` is stepped per batch and has
    its own warm-up (its ``pct_start`` is the warm-up share of the run). ``plateau`` watches the early-stopping
    monitor; its warm-up is a second, chained epoch scheduler.

    The kind and number of schedulers depend on the config only, never on ``epochs`` (which can change when a
    run is resumed with more epochs): epoch schedules are one :class:`EpochSchedule`, a pure function of the
    epoch, so a resumed run continues on the schedule of its new length.
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
    if config.name == "plateau":
        plateau = lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=monitor_mode, factor=config.factor, patience=config.patience, min_lr=config.min_lr
        )
        entries = [{"scheduler": plateau, "interval": "epoch", "monitor": monitor}]
        if config.warmup_epochs:
            # Chainable (it multiplies the current rate), so the plateau's reductions are kept.
            start = WARMUP_START_FACTOR if warmup else 1.0
            warm = lr_scheduler.LinearLR(optimizer, start_factor=start, total_iters=max(warmup, 1))
            entries.insert(0, {"scheduler": warm, "interval": "epoch"})
        return entries
    if config.name == "none" and not config.warmup_epochs:
        return []
    return [{"scheduler": EpochSchedule(optimizer, config, epochs), "interval": "epoch"}]


class EpochSchedule(lr_scheduler.LambdaLR):
    """Linear warm-up, then cosine, step, multistep or a constant rate, as a closed form of the epoch.

    Equal to ``SequentialLR([LinearLR, main])`` of torch, but it keeps no state besides the epoch counter, so a
    checkpoint of a 1-epoch run resumes into a 3-epoch schedule. When a checkpoint is loaded, the rate of the
    loaded epoch under this schedule is set, because the optimizer state carries the old schedule's rate.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, config: SchedulerConfig, epochs: int) -> None:
        self.warmup = min(config.warmup_epochs, max(epochs - 1, 0))
        self.main_epochs = max(epochs - self.warmup, 1)
        self.config = config
        bases = [group.get("initial_lr", group["lr"]) for group in optimizer.param_groups]
        super().__init__(optimizer, [self._factor_for(base) for base in bases])

    def _factor_for(self, base: float):
        return lambda epoch: self.factor(epoch, base)

    def factor(self, epoch: int, base: float) -> float:
        """Learning rate at ``epoch`` (0-based) as a fraction of ``base``."""
        if epoch < self.warmup:
            return WARMUP_START_FACTOR + (1.0 - WARMUP_START_FACTOR) * epoch / self.warmup
        t, config = epoch - self.warmup, self.config
        if config.name == "cosine":
            t = min(t, self.main_epochs)
            eta = config.min_lr / base if base > 0 else 0.0
            return eta + (1.0 - eta) * (1.0 + math.cos(math.pi * t / self.main_epochs)) / 2.0
        if config.name == "step":
            return config.gamma ** (t // config.step_size)
        if config.name == "multistep":
            return config.gamma ** bisect.bisect_right(sorted(config.milestones), t)
        return 1.0

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.pop("config", None)  # the schedule's definition comes from the run's config, not the checkpoint
        for key in ("warmup", "main_epochs"):
            state.pop(key, None)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        known = {k: v for k, v in state_dict.items() if k not in ("config", "warmup", "main_epochs")}
        super().load_state_dict(known)
        for group, base, fn in zip(self.optimizer.param_groups, self.base_lrs, self.lr_lambdas, strict=True):
            group["lr"] = base * fn(self.last_epoch)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]
