"""Batch-norm statistics recomputed on the training images before each validation ("precise BN").

BatchNorm keeps running averages of batch statistics with momentum 0.1. On the small data sets common in
medical imaging an epoch has only a handful of steps, so those averages still mostly describe the network of
several steps ago; evaluated with them, a model that ranks images well can predict one class for everything
(seen on the demo's phantom set: 0.57 training accuracy in eval mode, 0.82 with batch statistics). Recomputing
exact averages over the training images fixes the mismatch (Wu & Johnson, "Rethinking 'Batch' in BatchNorm",
2021, section 3).

The statistics come from a fixed number of batches (``trainer.precise_bn_batches``, 32 by default) drawn
once at random from the training split, not from the whole split: the paper finds a few dozen batches enough
(section 3, fig. 2), and a fixed count keeps the cost per epoch constant (the whole split cost a quarter of an
epoch on 1,600 images, BENCHMARKS.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import lightning as L
import torch
from torch import nn

# Below this many optimizer steps per epoch, running averages lag the weights too much (``precise_bn: auto``).
AUTO_MAX_STEPS = 50
# Batches used by default: Wu & Johnson (2021, fig. 2) see the estimate settle after 20-50 batches.
DEFAULT_BATCHES = 32


def batch_norm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """Every BatchNorm layer of ``model`` that tracks running statistics."""
    return [
        m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]


@torch.no_grad()
def recompute_bn_stats(
    model: nn.Module,
    batches: Iterable[torch.Tensor],
    max_batches: int = DEFAULT_BATCHES,
    forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> int:
    """Replace the running mean/var of every BatchNorm layer by their exact average over ``batches``.

    Only the BatchNorm layers switch to training mode (dropout and the rest stay as they were), and the
    weights are not touched. ``forward`` runs a batch (default: ``model``); training passes the
    LightningModule, which also gives the input the model's memory format (a channels_last model fed
    contiguous batches ran this 1.7x slower than its training forward pass on the CPU, BENCHMARKS.md).

    Returns:
        The number of batches used (0: the model has no BatchNorm layer).
    """
    layers = batch_norm_layers(model)
    if not layers:
        return 0
    saved = [(layer.momentum, layer.training) for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative average over the batches below
        layer.train()
    used = 0
    device = next(model.parameters()).device
    for used, batch in enumerate(batches, start=1):
        images = batch[0] if isinstance(batch, tuple | list) else batch
        (forward or model)(images.to(device))
        if used >= max_batches:
            break
    for layer, (momentum, training) in zip(layers, saved, strict=True):
        layer.momentum = momentum
        layer.train(training)
    return used


class PreciseBN(L.Callback):
    """Recomputes BatchNorm statistics on training images (eval transform) before each validation.

    Args:
        batches: builds the loader of those images; called once, the loader (and its workers) are reused.
        max_batches: at most this many batches are used per recomputation.
    """

    def __init__(
        self, batches: Callable[[], Iterable[torch.Tensor]], max_batches: int = DEFAULT_BATCHES
    ) -> None:
        self.batches = batches
        self.max_batches = max_batches
        self._loader: Iterable[torch.Tensor] | None = None
        self.used = 0

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        if self._loader is None:
            self._loader = self.batches()
        self.used = recompute_bn_stats(pl_module.model, self._loader, self.max_batches, forward=pl_module)


def use_precise_bn(setting: bool | str, steps_per_epoch: int, model: nn.Module) -> bool:
    """``auto``: on when the model has BatchNorm and an epoch has fewer than ``AUTO_MAX_STEPS`` steps."""
    if setting != "auto":
        return bool(setting)
    return steps_per_epoch < AUTO_MAX_STEPS and bool(batch_norm_layers(model))
