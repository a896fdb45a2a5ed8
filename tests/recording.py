"""What the model actually receives: the inputs of every module of one kind, recorded through a global hook.

Tests use it to see an option's effect where it happens (the padding of a letterbox resize, the normalisation,
the memory format, the batch statistics) through the public API, without reaching into its helpers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


@contextlib.contextmanager
def module_inputs(kind: type[nn.Module]) -> Iterator[dict[int, list[torch.Tensor]]]:
    """Yields ``{call order of the layer: [its input tensors]}`` for every ``kind`` module run in the block.

    Layers are numbered in the order they first ran (0: the first ``kind`` layer a forward pass reaches), so
    the numbering is the same for every model instance built from one checkpoint.
    """
    order: dict[int, int] = {}
    seen: dict[int, list[torch.Tensor]] = {}

    def hook(module: nn.Module, args: tuple) -> None:
        if isinstance(module, kind) and args and isinstance(args[0], torch.Tensor):
            index = order.setdefault(id(module), len(order))
            seen.setdefault(index, []).append(args[0].detach().clone())

    handle = nn.modules.module.register_module_forward_pre_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()
