"""Activations of chosen layers, captured with forward hooks that are removed before returning."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from medclass.explain.targets import TargetLayer, resolve_target_layer, stage_layers


@torch.no_grad()
def capture_activations(
    model: nn.Module, inputs: torch.Tensor, layers: Sequence[str | TargetLayer] | None = None
) -> dict[str, torch.Tensor]:
    """One forward pass recording the outputs of ``layers`` as ``(N, C, h, w)`` CPU tensors.

    Args:
        model: the network (put in eval mode).
        inputs: normalised inputs ``(N, C, H, W)`` on the model's device.
        layers: module names or :class:`TargetLayer` objects; default :func:`~medclass.explain.targets.stage_layers`.

    Returns:
        Layer name -> activations, in the order given. Transformer tokens and NHWC maps are reshaped to
        ``(N, C, h, w)`` with the model's own reshape transform.

    Raises:
        ValueError: a layer name that is not a module of the model.
    """
    chosen = [
        item if isinstance(item, TargetLayer) else resolve_target_layer(model, item)
        for item in (layers if layers is not None else stage_layers(model))
    ]
    captured: dict[str, torch.Tensor] = {}
    handles = []

    def recorder(target: TargetLayer):
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            captured[target.name] = target.to_nchw(output).detach().float().cpu()

        return hook

    try:
        for target in chosen:
            handles.append(target.module.register_forward_hook(recorder(target)))
        model.eval()
        model(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return {target.name: captured[target.name] for target in chosen if target.name in captured}


def mean_activation_map(activations: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Channel mean of ``(N, C, h, w)`` activations, bilinearly resized to ``size`` = ``(H, W)``: ``(N, H, W)``."""
    mean = activations.float().mean(dim=1, keepdim=True)
    return F.interpolate(mean, size=size, mode="bilinear", align_corners=False)[:, 0]
