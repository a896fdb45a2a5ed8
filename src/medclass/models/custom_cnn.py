"""The custom CNN (``model.name: cnn``) built from a :class:`~medclass.config.schema.CNNConfig`.

Layout (module names in brackets, as they appear in the state dict and in ``medclass profile``)::

    features    [features.block1 ... blockN]  conv -> [bn] -> activation -> [pool] -> [dropout]
    head        global_avg: average over H x W;  flatten: keep every position (needs image_size)
    dense       [dense.fc1 ... fcK]           Linear -> activation -> [Dropout(dense_dropout)]
    classifier  [classifier]                  [Dropout(drop_rate)] -> Linear(num_classes)

Choices:
    - a conv followed by batch-norm has no bias (the BN shift replaces it); without BN it has one;
    - ``padding: same`` keeps the size for stride 1 (PyTorch's ``"same"``, also for even kernels); for stride > 1
      it means ``kernel // 2``, i.e. ``ceil(size / stride)`` for odd kernels;
    - block dropout is element-wise (``nn.Dropout``), like dropout on the flattened features; after the last
      block it is the "dropout before the first FC layer" of the seed README's third model.

Example (the first model of the 4-class brain-MRI README: 33,488 parameters at 256 px, 3 channels, 4 classes)::

    cnn = {"blocks": [{"out_channels": 4, "batch_norm": False}] * 4, "head": "flatten",
           "dense": [32], "dense_dropout": 0.3}
    create_model("cnn", num_classes=4, in_chans=3, cnn=cnn, image_size=256)
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from medclass.config.schema import CNNConfig, ConvBlock
from medclass.models.layers import DropoutLinear
from medclass.models.registry import register_model
from medclass.utils.errors import ConfigError

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
}


def make_activation(name: str) -> nn.Module:
    """The activation layer called ``name`` (relu, gelu, silu, leaky_relu, elu)."""
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ConfigError(f"activation {name!r}: expected one of {', '.join(_ACTIVATIONS)}") from None


def _conv_padding(block: ConvBlock) -> int | str:
    if block.padding != "same":
        return block.padding
    return "same" if block.stride == 1 else block.kernel // 2


class ConvBlockLayer(nn.Sequential):
    """conv -> [bn] -> activation -> [pool] -> [dropout], from a :class:`ConvBlock`."""

    def __init__(self, in_channels: int, block: ConvBlock) -> None:
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        layers["conv"] = nn.Conv2d(
            in_channels,
            block.out_channels,
            kernel_size=block.kernel,
            stride=block.stride,
            padding=_conv_padding(block),
            bias=not block.batch_norm,
        )
        if block.batch_norm:
            layers["bn"] = nn.BatchNorm2d(block.out_channels)
        layers["act"] = make_activation(block.activation)
        stride = block.pool_stride or block.pool_kernel
        if block.pool == "max":
            layers["pool"] = nn.MaxPool2d(block.pool_kernel, stride)
        elif block.pool == "avg":
            layers["pool"] = nn.AvgPool2d(block.pool_kernel, stride)
        if block.dropout > 0:
            layers["drop"] = nn.Dropout(block.dropout)
        super().__init__(layers)


def feature_map_size(blocks: list[ConvBlock], image_size: int) -> int:
    """Side of the square feature map after ``blocks`` for a square ``image_size`` input (exact arithmetic).

    Raises:
        ConfigError: if the map shrinks below 1 pixel, naming the block.
    """
    size = image_size
    for i, block in enumerate(blocks, start=1):
        padding = _conv_padding(block)
        if padding != "same":
            size = (size + 2 * int(padding) - block.kernel) // block.stride + 1
        if size >= 1 and block.pool != "none":
            size = (size - block.pool_kernel) // (block.pool_stride or block.pool_kernel) + 1
        if size < 1:
            raise ConfigError(
                f"model.cnn.blocks: image_size {image_size} is too small for block {i} of {len(blocks)} "
                f"(the feature map shrinks below 1 pixel); use a larger image, fewer blocks or less pooling"
            )
    return size


class CustomCNN(nn.Module):
    """A plain CNN described by a :class:`CNNConfig` (see the module docstring for the layout).

    Args:
        cfg: the architecture.
        num_classes: outputs of the classifier.
        in_chans: image channels.
        drop_rate: dropout before the classifier layer.
        image_size: input side in pixels; required for ``head: flatten`` (fixes the first dense layer's width).
    """

    def __init__(
        self,
        cfg: CNNConfig,
        num_classes: int,
        in_chans: int = 1,
        drop_rate: float = 0.0,
        image_size: int | None = None,
    ) -> None:
        super().__init__()
        blocks: OrderedDict[str, nn.Module] = OrderedDict()
        channels = in_chans
        for i, block in enumerate(cfg.blocks, start=1):
            blocks[f"block{i}"] = ConvBlockLayer(channels, block)
            channels = block.out_channels
        self.features = nn.Sequential(blocks)

        if cfg.head == "flatten":
            if image_size is None:
                raise ConfigError(
                    "model.cnn.head = 'flatten' needs the image size (data.image_size) to size the first dense "
                    "layer; pass image_size or use head: global_avg"
                )
            side = feature_map_size(cfg.blocks, image_size)
            self.pool: nn.Module = nn.Identity()
            width = channels * side * side
        else:
            if image_size is not None:
                feature_map_size(cfg.blocks, image_size)  # same early check of a too-small image
            self.pool = nn.AdaptiveAvgPool2d(1)
            width = channels
        self.flatten = nn.Flatten(1)

        dense: OrderedDict[str, nn.Module] = OrderedDict()
        for j, out in enumerate(cfg.dense, start=1):
            dense[f"fc{j}"] = nn.Linear(width, out)
            dense[f"act{j}"] = make_activation(cfg.activation)
            if cfg.dense_dropout > 0:
                dense[f"drop{j}"] = nn.Dropout(cfg.dense_dropout)
            width = out
        self.dense = nn.Sequential(dense)
        self.classifier = DropoutLinear(width, num_classes, drop_rate)
        self.medclass_head = "classifier"

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last conv block's feature map ``(N, C, H', W')`` (the usual target layer of a CAM)."""
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.flatten(self.pool(self.features(x)))
        return self.classifier(self.dense(x))


def as_cnn_config(cnn: CNNConfig | dict[str, Any] | None) -> CNNConfig:
    """A validated :class:`CNNConfig` from a config object, a plain dict (e.g. from YAML) or None (defaults)."""
    if cnn is None:
        return CNNConfig()
    if isinstance(cnn, CNNConfig):
        return cnn
    try:
        return CNNConfig.model_validate(cnn)
    except Exception as exc:
        raise ConfigError(f"model.cnn: {exc}") from None


@register_model("cnn", family="custom", description="custom CNN from model.cnn (conv blocks + dense layers)")
def build_cnn(
    num_classes: int,
    in_chans: int = 1,
    drop_rate: float = 0.0,
    image_size: int | None = None,
    cnn: CNNConfig | dict[str, Any] | None = None,
    **kwargs: Any,
) -> CustomCNN:
    """Registry builder of the custom CNN."""
    if kwargs:
        raise ConfigError(f"model.kwargs: the custom CNN takes no extra arguments (got {', '.join(kwargs)})")
    return CustomCNN(as_cnn_config(cnn), num_classes, in_chans, drop_rate, image_size)
