"""The one name registry of medclass models (torchvision wrappers and the custom CNN).

A builder is registered under a name with :func:`register_model`; :func:`medclass.models.create_model` looks it
up. timm models are not registered one by one: any ``timm:<name>`` is accepted by the factory.

A builder is called as ``builder(num_classes=..., in_chans=..., drop_rate=..., image_size=..., cnn=...,
**kwargs)`` and returns an ``nn.Module`` with random weights whose ``medclass_head`` attribute names its
classifier head; pretrained and file weights are the factory's job.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from torch import nn

from medclass.utils.errors import ConfigError

TIMM_PREFIX = "timm:"

Builder = Callable[..., nn.Module]
F = TypeVar("F", bound=Builder)


@dataclass(frozen=True)
class ModelEntry:
    """A registered model.

    Attributes:
        name: registry name (``resnet18``, ``cnn``).
        builder: function building the randomly initialised model.
        family: ``torchvision`` or ``custom``.
        pretrained_url: where the published weights are downloaded from into the torch hub cache (None: no
            published weights; ``model.pretrained: auto`` then trains from scratch).
        description: one line for listings.
        pretrained_tag: the weights' name, e.g. torchvision's ``IMAGENET1K_V1`` (recorded by a run).
        mean, std: the RGB normalisation the weights were trained with (a run with them uses it).
    """

    name: str
    builder: Builder
    family: str = "custom"
    pretrained_url: str | None = None
    description: str = ""
    pretrained_tag: str = ""
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str,
    *,
    family: str = "custom",
    pretrained_url: str | None = None,
    description: str = "",
    pretrained_tag: str = "",
    mean: tuple[float, ...] = (),
    std: tuple[float, ...] = (),
) -> Callable[[F], F]:
    """Decorator registering a model builder under ``name``.

    Args:
        name: registry name; must be new and must not start with ``timm:``.
        family: ``torchvision`` or ``custom`` (shown in listings).
        pretrained_url: URL of the published weights (downloaded into the torch hub cache on first use).
        description: one line for listings.
        pretrained_tag: name of the published weights (``IMAGENET1K_V1``).
        mean, std: the weights' RGB normalisation statistics.

    Raises:
        ValueError: if ``name`` is already registered (one name, one model).

    Example:
        >>> @register_model("tiny")
        ... def tiny(num_classes, in_chans, drop_rate=0.0, **kwargs):
        ...     ...
    """
    if not name or name.startswith(TIMM_PREFIX):
        raise ValueError(f"invalid model name {name!r}: empty or starting with {TIMM_PREFIX!r}")

    def decorator(builder: F) -> F:
        if name in _REGISTRY:
            previous = _REGISTRY[name].builder
            raise ValueError(
                f"model {name!r} is already registered (by {previous.__module__}.{previous.__qualname__})"
            )
        _REGISTRY[name] = ModelEntry(
            name, builder, family, pretrained_url, description, pretrained_tag, tuple(mean), tuple(std)
        )
        return builder

    return decorator


def unregister_model(name: str) -> None:
    """Remove a registered name (for plug-ins and tests); unknown names are ignored."""
    _REGISTRY.pop(name, None)


def available_models() -> list[str]:
    """The registered names, sorted. ``timm:<name>`` is accepted too but not listed."""
    return sorted(_REGISTRY)


def get_entry(name: str) -> ModelEntry:
    """The registry entry of ``name``.

    Raises:
        ConfigError: for an unknown name, listing the available names (and the closest ones).
    """
    entry = _REGISTRY.get(name)
    if entry is not None:
        return entry
    close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise ConfigError(
        f"model.name = {name!r}: unknown model.{hint} Available: {', '.join(available_models())}; "
        f"or any timm model as '{TIMM_PREFIX}<name>' (e.g. {TIMM_PREFIX}convnext_nano)."
    )
