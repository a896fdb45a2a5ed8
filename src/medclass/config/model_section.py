"""The ``model`` section of a run config: architecture, starting weights, fine-tuning policy, custom CNN."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from medclass.config.section import Section


class ConvBlock(Section):
    """One block of the custom CNN: conv -> [batch-norm] -> activation -> [pool] -> [dropout]."""

    out_channels: Annotated[int, Field(ge=1)]
    kernel: Annotated[int, Field(ge=1)] = 3
    stride: Annotated[int, Field(ge=1)] = 1
    padding: int | Literal["same"] = "same"
    batch_norm: bool = True
    activation: Literal["relu", "gelu", "silu", "leaky_relu", "elu"] = "relu"
    pool: Literal["max", "avg", "none"] = "max"
    pool_kernel: Annotated[int, Field(ge=1)] = 2
    pool_stride: Annotated[int, Field(ge=1)] | None = None
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0


class CNNConfig(Section):
    """Custom CNN (``model.name: cnn``): conv blocks, then a flatten or global pool, then dense layers."""

    blocks: list[ConvBlock] = Field(
        default_factory=lambda: [ConvBlock(out_channels=c) for c in (16, 32, 64, 128)], min_length=1
    )
    head: Literal["flatten", "global_avg"] = Field(
        "global_avg", description="flatten keeps spatial positions (parameter count grows with image size)."
    )
    dense: list[Annotated[int, Field(ge=1)]] = Field(default_factory=lambda: [64])
    dense_dropout: Annotated[float, Field(ge=0, lt=1)] = 0.3
    activation: Literal["relu", "gelu", "silu", "leaky_relu", "elu"] = "relu"


class ModelConfig(Section):
    """Architecture, starting weights and fine-tuning policy."""

    name: str = Field(
        "resnet18",
        description="Registry name (see `medclass.models.available_models`), 'timm:<name>' or 'cnn'.",
    )
    pretrained: bool | Literal["auto"] = Field(
        "auto",
        description="auto: the architecture's published weights (downloaded once into the torch hub / Hugging "
        "Face cache), from scratch when offline or none are published; true: required; false: random init.",
    )
    pretrained_source: str | None = Field(
        None,
        description="Written by train: what `pretrained` resolved to ('torchvision IMAGENET1K_V1', "
        "'timm resnet18.a1_in1k', 'none (offline)', 'none'); a resumed run follows it, a new run resolves again.",
    )
    weights: str | None = Field(None, description="Load weights from this file (checkpoint or state dict).")
    drop_rate: Annotated[float, Field(ge=0, lt=1)] = Field(0.0, description="Dropout before the classifier.")
    freeze: Literal["none", "backbone"] = Field(
        "none", description="backbone: train only the classifier head (a linear probe of the weights)."
    )
    unfreeze_after_epochs: Annotated[int, Field(ge=1)] | None = Field(
        None, description="With freeze: backbone, train everything after this many epochs (staged unfreeze)."
    )
    channels_last: bool | Literal["auto"] = Field(
        "auto", description="auto: channels_last memory format for conv nets (measured faster, CPU included)."
    )
    cnn: CNNConfig = Field(default_factory=CNNConfig)
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Extra constructor arguments (timm).")
