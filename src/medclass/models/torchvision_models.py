"""torchvision classifiers registered under their torchvision names, with medclass's constructor vocabulary.

Each builder makes the torchvision model with ``num_classes`` outputs, then

- sets the dropout directly before the final Linear to ``drop_rate``: the torchvision classifiers that already
  have one there (VGG, EfficientNet, MobileNetV3) get its probability set, ResNet and DenseNet get their Linear
  replaced by a :class:`~medclass.models.layers.DropoutLinear` (same state-dict keys);
- gives the first conv ``in_chans`` input channels.

``drop_rate`` follows timm's convention: it *is* the dropout before the classifier, so the default 0.0 turns off
torchvision's built-in one (EfficientNet-B0..B7 0.2..0.5, MobileNetV3 0.2, VGG 0.5). Pass that value as
``drop_rate`` to reproduce torchvision's recipe. VGG's dropout between its two hidden FC layers keeps
torchvision's 0.5 (``kwargs={"dropout": p}`` changes it).
"""

from __future__ import annotations

from typing import Any

import torchvision
from torch import nn

from medclass.models.layers import DropoutLinear, replace_input_conv
from medclass.models.registry import register_model

TORCHVISION_MODELS: tuple[str, ...] = (
    "resnet18",
    "resnet34",
    "resnet50",
    "vgg11",
    "vgg11_bn",
    "vgg16",
    "vgg16_bn",
    "densenet121",
    *(f"efficientnet_b{i}" for i in range(8)),
    "mobilenet_v3_small",
    "mobilenet_v3_large",
)


def set_head_dropout(model: nn.Module, drop_rate: float) -> str:
    """Put dropout with probability ``drop_rate`` directly before the model's final Linear.

    Returns:
        The qualified name of the final Linear (the classifier head).
    """
    head_name = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)][-1]
    parent_name, _, attr = head_name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    if isinstance(parent, nn.Sequential) and attr.isdigit() and int(attr) > 0:
        before = parent[int(attr) - 1]
        if isinstance(before, nn.Dropout):
            before.p = float(drop_rate)
            return head_name
    linear = model.get_submodule(head_name)
    model.set_submodule(head_name, DropoutLinear.from_linear(linear, drop_rate))
    return head_name


def _make_builder(name: str):
    def build(
        num_classes: int,
        in_chans: int = 3,
        drop_rate: float = 0.0,
        image_size: int | None = None,
        cnn: Any = None,
        **kwargs: Any,
    ) -> nn.Module:
        # image_size is not needed: every torchvision classifier here ends in an adaptive pool.
        model = torchvision.models.get_model(name, weights=None, num_classes=num_classes, **kwargs)
        model.medclass_head = set_head_dropout(model, drop_rate)
        if in_chans != 3:
            replace_input_conv(model, in_chans)
        return model

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"torchvision {name} with num_classes, in_chans and drop_rate."
    return build


def _register_all() -> None:
    for name in TORCHVISION_MODELS:
        weights = torchvision.models.get_model_weights(name).DEFAULT
        preset = weights.transforms()
        register_model(
            name,
            family="torchvision",
            pretrained_url=weights.url,
            pretrained_tag=weights.name,
            mean=tuple(preset.mean),
            std=tuple(preset.std),
            description=f"torchvision {name} ({weights.meta['num_params'] / 1e6:.1f}M params, "
            f"{weights.meta['_ops']:.2f} GMACs at {preset.crop_size[0]} px)",
        )(_make_builder(name))


_register_all()
