"""Size and cost of a model: parameters, a per-layer table, multiply-adds per image and measured latency.

Convention: compute is reported in multiply-accumulates (MACs): one ``a * b + c`` counts once. This is the
convention of the published tables (torchvision's "GFLOPS" column, the ResNet paper's "3.8 x 10^9 FLOPs" for
ResNet-50) although they call it FLOPs. It is counted with ``torch.utils.flop_counter.FlopCounterMode``,
which counts 2 FLOPs per multiply-add of convolutions, matrix products and attention, so MACs = FLOPs / 2.
Element-wise work (BatchNorm, activations, pooling, additions) is not counted, as in those tables.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.flop_counter import FlopCounterMode

from medclass.models.factory import create_model_from_config
from medclass.utils.errors import ConfigError

MAC_CONVENTION = (
    "MACs = multiply-accumulates per image (FlopCounterMode FLOPs / 2; conv, matmul and attention only), "
    "the convention of torchvision's published 'GFLOPS'"
)

# Layer types that always get a row in the layer table (even without parameters, e.g. BN without affine).
_TABLE_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, _BatchNorm, nn.LayerNorm, nn.GroupNorm)


def count_parameters(model: nn.Module) -> dict[str, int]:
    """``{"total": ..., "trainable": ...}`` parameter counts (shared parameters counted once)."""
    params = list({id(p): p for p in model.parameters()}.values())
    return {
        "total": sum(p.numel() for p in params),
        "trainable": sum(p.numel() for p in params if p.requires_grad),
    }


def _device_of(model: nn.Module, device: str | torch.device | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def _example(
    batch: int, in_chans: int, image_size: int, device: torch.device, model: nn.Module
) -> torch.Tensor:
    first = next(model.parameters(), None)
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    return torch.randn(batch, in_chans, image_size, image_size, device=device, dtype=dtype)


def layer_table(
    model: nn.Module, image_size: int, in_chans: int, device: str | torch.device | None = None
) -> list[dict[str, Any]]:
    """One row per conv / linear / norm layer (and any other module holding parameters itself).

    Each row: ``name`` (module path), ``type``, ``output_shape`` (without the batch dimension, from a
    forward pass of one image; None if the layer did not run) and ``params`` (its own parameters). The rows
    add up to the model's total: parameters held by the root module itself (e.g. a ViT's position embedding)
    get a row named ``(model)``.
    """
    device = _device_of(model, device)
    rows: dict[str, dict[str, Any]] = {}
    hooks = []
    seen: set[int] = set()

    def record(name: str):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            if rows[name]["output_shape"] is None and isinstance(output, torch.Tensor):
                rows[name]["output_shape"] = list(output.shape[1:])

        return hook

    for name, module in model.named_modules():
        own = [p for p in module.parameters(recurse=False) if id(p) not in seen]
        seen.update(id(p) for p in own)
        if not own and not isinstance(module, _TABLE_TYPES):
            continue
        label = name or "(model)"
        rows[label] = {
            "name": label,
            "type": type(module).__name__,
            "output_shape": None,
            "params": sum(p.numel() for p in own),
        }
        if name:
            hooks.append(module.register_forward_hook(record(label)))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(_example(1, in_chans, image_size, device, model))
    finally:
        for handle in hooks:
            handle.remove()
        model.train(was_training)
    return list(rows.values())


def count_macs(
    model: nn.Module, image_size: int, in_chans: int, device: str | torch.device | None = None
) -> int:
    """Multiply-accumulates for one ``in_chans x image_size x image_size`` image (see the module docstring)."""
    device = _device_of(model, device)
    was_training = model.training
    model.eval()
    try:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(_example(1, in_chans, image_size, device, model))
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


def measure_latency(
    model: nn.Module,
    image_size: int,
    in_chans: int,
    batch_size: int,
    repeats: int = 5,
    warmup: int = 2,
    device: str | torch.device | None = None,
) -> dict[str, Any]:
    """Median wall time of ``repeats`` inference passes (eval mode, no grad) after ``warmup`` passes.

    Returns:
        ``batch_size``, ``median_ms`` (per batch), ``min_ms`` (the fastest run: the least disturbed by other
        processes on a shared machine), ``ms_per_image`` and ``images_per_s`` (from the median), ``repeats``.
    """
    device = _device_of(model, device)
    x = _example(batch_size, in_chans, image_size, device, model)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    was_training = model.training
    model.eval()
    times = []
    try:
        with torch.inference_mode():
            for _ in range(warmup):
                model(x)
            sync()
            for _ in range(max(1, repeats)):
                start = time.perf_counter()
                model(x)
                sync()
                times.append(time.perf_counter() - start)
    finally:
        model.train(was_training)
    median = statistics.median(times)
    return {
        "batch_size": batch_size,
        "median_ms": median * 1e3,
        "min_ms": min(times) * 1e3,
        "ms_per_image": median * 1e3 / batch_size,
        "images_per_s": batch_size / median,
        "repeats": len(times),
    }


def profile_model(
    model: nn.Module,
    image_size: int,
    in_chans: int,
    batch_sizes: Sequence[int] = (1, 32),
    repeats: int = 5,
    warmup: int = 2,
    layers: bool = True,
    device: str | torch.device | None = None,
) -> dict[str, Any]:
    """Parameters, per-layer table, MACs per image and latency of ``model`` on square images.

    Args:
        model: the network (its train/eval mode is restored afterwards).
        image_size: input side in pixels.
        in_chans: input channels.
        batch_sizes: batch sizes to time; empty to skip the latency measurement.
        repeats: timed passes per batch size (the median is reported).
        warmup: untimed passes before timing.
        layers: include the per-layer table.
        device: where to run (default: the model's device).

    Returns:
        A JSON-ready dict: ``image_size``, ``in_chans``, ``params`` (total, trainable), ``macs``, ``gmacs``,
        ``flops`` (= 2 x MACs), ``convention``, ``layers`` (rows of :func:`layer_table`), ``latency`` (one
        dict per batch size, see :func:`measure_latency`), ``device``, ``threads``, ``torch``.

    Example:
        >>> report = profile_model(create_model("resnet50", 1000, in_chans=3), 224, 3, batch_sizes=())
        >>> round(report["gmacs"], 2)
        4.09
    """
    device = _device_of(model, device)
    macs = count_macs(model, image_size, in_chans, device)
    return {
        "image_size": image_size,
        "in_chans": in_chans,
        "params": count_parameters(model),
        "macs": macs,
        "gmacs": macs / 1e9,
        "flops": 2 * macs,
        "convention": MAC_CONVENTION,
        "layers": layer_table(model, image_size, in_chans, device) if layers else [],
        "latency": [
            measure_latency(model, image_size, in_chans, b, repeats, warmup, device) for b in batch_sizes
        ],
        "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def profile_config(
    cfg: Any,
    num_classes: int = 2,
    in_chans: int | None = None,
    batch_sizes: Sequence[int] = (1, 32),
    repeats: int = 5,
    threads: int | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """:func:`profile_model` of the untrained model a run config describes (``medclass profile``).

    Args:
        cfg: a :class:`~medclass.config.Config` (the model section, ``data.image_size``, ``data.channels``).
        num_classes: classifier outputs.
        in_chans: input channels (default ``data.channels``).
        batch_sizes: batch sizes to time; empty to skip the latency measurement.
        repeats: timed passes per batch size.
        threads: CPU threads for torch (default: torch's).
        device: ``cpu``, ``cuda`` or ``cuda:N``.

    Returns:
        The report of :func:`profile_model` plus ``model`` (the config's model name) and ``num_classes``.

    Raises:
        ConfigError: a device torch does not know.
    """
    in_chans = in_chans or cfg.data.channels
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        target = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"--device {device!r}: expected cpu, cuda or cuda:N") from None
    net = create_model_from_config(cfg, num_classes=num_classes, in_chans=in_chans, pretrained=False)
    report = profile_model(
        net.to(target), cfg.data.image_size, in_chans, batch_sizes=batch_sizes, repeats=repeats
    )
    return {"model": cfg.model.name, "num_classes": num_classes, **report}
