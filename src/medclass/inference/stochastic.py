"""Stochastic passes of one model over one set of inputs: Monte-Carlo dropout and test-time augmentation.

- MC dropout (Gal & Ghahramani 2016): the dropout layers stay active at test time (``train`` mode) while
  everything else, batch-norm included, stays in eval mode; N stochastic passes give N probability vectors.
- TTA: N passes over differently augmented copies of each image (the first pass is the image itself).

The summaries of the passes (mean, entropy, spread, referral) are pure functions in
``medclass.evaluation.uncertainty``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch
from torch import nn
from torch.nn.modules.dropout import _DropoutNd

Batches = Iterable[torch.Tensor | tuple[torch.Tensor, ...] | list[torch.Tensor]]


def dropout_layers(model: nn.Module) -> list[nn.Module]:
    """The dropout modules of ``model`` that drop something (``p > 0``): ``nn.Dropout``, ``Dropout1d/2d/3d``,
    ``AlphaDropout`` ... A ``Dropout(p=0.0)`` (torchvision and timm heads at ``drop_rate=0``) is not one: MC
    dropout through it would give identical passes."""
    return [m for m in model.modules() if isinstance(m, _DropoutNd) and float(getattr(m, "p", 0.0)) > 0]


@contextlib.contextmanager
def dropout_active(model: nn.Module) -> Iterator[list[nn.Module]]:
    """Put ``model`` in eval mode with only its dropout layers in train mode; restore every mode afterwards.

    Dropout written as a function call in ``forward`` (``F.dropout(x, training=self.training)``, as in some
    timm heads) follows the model's own mode and so stays off: only dropout *modules* are switched on.

    Yields:
        The dropout modules that were switched on (empty: every pass will be identical).
    """
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    layers = dropout_layers(model)
    for layer in layers:
        layer.train(True)
    try:
        yield layers
    finally:
        for module, mode in modes:
            module.training = mode


def _images(batch: torch.Tensor | tuple | list) -> torch.Tensor:
    return batch[0] if isinstance(batch, tuple | list) else batch


@torch.inference_mode()
def stacked_logits(
    model: nn.Module,
    batches_of_pass: Callable[[int], Batches],
    passes: int,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> np.ndarray:
    """Logits of ``passes`` passes, ``(passes, N, K)``; pass p runs over ``batches_of_pass(p)``.

    The model's mode is left as the caller set it (see :func:`dropout_active`). The global RNG is seeded with
    ``seed + p`` before pass p and restored afterwards, so results are repeatable and the caller's random
    state is untouched.
    """
    if passes < 1:
        raise ValueError(f"passes = {passes}: must be >= 1")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    rng_devices = [device.index or 0] if device.type == "cuda" else []
    runs = []
    for p in range(passes):
        with torch.random.fork_rng(devices=rng_devices):
            torch.manual_seed(seed + p)
            outputs = [model(_images(b).to(device)).float().cpu() for b in batches_of_pass(p)]
        runs.append(torch.cat(outputs).numpy() if outputs else np.zeros((0, 0), np.float32))
    return np.stack(runs)
