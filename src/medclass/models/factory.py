"""One factory for every model: registered names (torchvision, the custom CNN) and ``timm:<name>``."""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path
from typing import Any

from torch import nn

# Importing these modules registers their models.
from medclass.models import custom_cnn, torchvision_models  # noqa: F401
from medclass.models.custom_cnn import as_cnn_config
from medclass.models.pretrained import PretrainedWeights, Setting, resolve_pretrained
from medclass.models.registry import TIMM_PREFIX, get_entry
from medclass.models.weights import load_weights
from medclass.utils.errors import ConfigError

log = logging.getLogger(__name__)

# Attribute holding the constructor arguments on every model create_model returns.
ARGS_ATTR = "medclass_args"


def create_model(
    name: str,
    num_classes: int,
    in_chans: int = 1,
    pretrained: Setting | PretrainedWeights = False,
    drop_rate: float = 0.0,
    weights: str | os.PathLike | None = None,
    cnn: Any = None,
    image_size: int | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a classifier by name, with the same vocabulary for every architecture.

    Args:
        name: a registered name (:func:`available_models`: torchvision models and ``cnn``) or ``timm:<name>``
            for any timm model (``timm:convnext_nano``, ``timm:vit_tiny_patch16_224``).
        num_classes: outputs of the classifier head.
        in_chans: image channels (1: grayscale). With pretrained RGB weights the first conv is adapted by
            summing its kernels over R, G, B.
        pretrained: start from the architecture's published torchvision/timm weights: ``True`` (required),
            ``"auto"`` (when published and reachable; else random init with a logged warning), ``False``, or
            the :class:`~medclass.models.pretrained.PretrainedWeights` a run resolved. Files are downloaded
            into the torch hub / Hugging Face caches once (:mod:`medclass.models.pretrained`).
        drop_rate: dropout probability directly before the classifier (timm convention: 0 means none, also
            for torchvision models that have a built-in one).
        weights: a file to load after building: a medclass checkpoint, a torchvision/timm state dict, or a dict
            with ``state_dict``/``model``. A head of another class count is skipped; replaces ``pretrained``.
        cnn: the custom CNN's :class:`~medclass.config.schema.CNNConfig` (or a dict), for ``name="cnn"``;
            ignored for other names.
        image_size: input side in pixels; needed by ``cnn`` with ``head: flatten`` and passed as ``img_size``
            to timm models that take it (ViTs need it to match the images).
        **kwargs: extra constructor arguments of the torchvision/timm model.

    Returns:
        The model in train mode. ``model_args(model)`` gives the arguments that rebuild it (random init) and
        ``get_classifier(model)`` its head.

    Raises:
        ConfigError: unknown name (the message lists the available ones) or invalid CNN settings.
        WeightsError: ``pretrained=True`` and the weights neither cached nor downloadable (the message names
            the cache path and the URL), or a weights file that does not fit.

    Example:
        >>> model = create_model("resnet18", num_classes=2, in_chans=1, drop_rate=0.3)
        >>> model = create_model("cnn", num_classes=4, in_chans=3, image_size=256,
        ...                      cnn={"blocks": [{"out_channels": 4}] * 4, "head": "flatten", "dense": [32]})
    """
    if num_classes < 1:
        raise ConfigError(f"num_classes = {num_classes}: must be >= 1")
    if in_chans < 1:
        raise ConfigError(f"in_chans = {in_chans}: must be >= 1")
    if not 0.0 <= drop_rate < 1.0:
        raise ConfigError(f"model.drop_rate = {drop_rate}: must be in [0, 1)")
    if weights is not None and pretrained:
        log.info("model.weights given: loading %s instead of the pretrained weights", weights)
        pretrained = False
    if not isinstance(pretrained, PretrainedWeights):
        pretrained = resolve_pretrained(name, pretrained, kwargs)
        if pretrained.warning:
            log.warning(pretrained.warning)

    cnn_cfg = cnn_args = None
    if name.startswith(TIMM_PREFIX):
        model = _create_timm(
            name[len(TIMM_PREFIX) :], num_classes, in_chans, pretrained, drop_rate, image_size, kwargs
        )
    else:
        entry = get_entry(name)
        if name == "cnn":
            cnn_cfg = as_cnn_config(cnn)
            cnn_args = cnn_cfg.model_dump(mode="json")
        elif cnn is not None:
            log.debug("model %s: ignoring the cnn settings (used only by model.name: cnn)", name)
        model = entry.builder(
            num_classes=num_classes,
            in_chans=in_chans,
            drop_rate=drop_rate,
            image_size=image_size,
            cnn=cnn_cfg,
            **kwargs,
        )
        if pretrained.file is not None:
            load_weights(model, pretrained.file, name=f"pretrained {pretrained.source} ({pretrained.file})")

    if weights is not None:
        load_weights(model, Path(weights))

    setattr(
        model,
        ARGS_ATTR,
        {
            "name": name,
            "num_classes": num_classes,
            "in_chans": in_chans,
            "drop_rate": drop_rate,
            "image_size": image_size,
            "cnn": cnn_args,
            "kwargs": copy.deepcopy({k: v for k, v in kwargs.items() if k != "pretrained_cfg_overlay"}),
        },
    )
    return model


def _create_timm(
    name: str,
    num_classes: int,
    in_chans: int,
    pretrained: PretrainedWeights,
    drop_rate: float,
    image_size: int | None,
    kwargs: dict[str, Any],
) -> nn.Module:
    import timm

    arch = name.partition(".")[0]
    if not timm.is_model(arch):
        close = timm.list_models(f"*{arch[:6]}*")[:8] if len(arch) >= 3 else []
        hint = f" Similar timm names: {', '.join(close)}." if close else ""
        raise ConfigError(f"model.name = {TIMM_PREFIX}{name}: timm has no model {arch!r}.{hint}")
    args: dict[str, Any] = dict(kwargs)
    args.update(num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate)
    if pretrained.file is not None:
        # With a file in the pretrained config timm loads it with its own loader (no hub or URL access) and
        # adapts the first conv (sum over RGB for in_chans=1) and the classifier (dropped for another class
        # count).
        args["pretrained_cfg_overlay"] = {
            **(args.get("pretrained_cfg_overlay") or {}),
            "file": str(pretrained.file),
        }
    if image_size is not None and "img_size" not in args:
        try:
            return timm.create_model(name, pretrained=pretrained.loaded, img_size=image_size, **args)
        except TypeError as exc:
            if "img_size" not in str(exc):
                raise
            # A model without img_size (CNNs): it adapts to any input size by itself.
    return timm.create_model(name, pretrained=pretrained.loaded, **args)


def model_args(model: nn.Module) -> dict[str, Any]:
    """The :func:`create_model` arguments recorded on ``model`` (a copy), to rebuild it from a checkpoint.

    ``create_model(**model_args(model))`` builds the same architecture with random weights (``pretrained`` and
    ``weights`` are not recorded: the checkpoint's state dict replaces them).

    Raises:
        ValueError: if the model was not built by :func:`create_model`.
    """
    args = getattr(model, ARGS_ATTR, None)
    if not isinstance(args, dict):
        raise ValueError(f"{type(model).__name__} was not built by medclass.models.create_model")
    flat = copy.deepcopy(args)
    flat.update(flat.pop("kwargs", {}) or {})
    return flat


def create_model_from_config(
    cfg: Any,
    num_classes: int,
    in_chans: int | None = None,
    image_size: int | None = None,
    pretrained: Setting | PretrainedWeights | None = None,
) -> nn.Module:
    """Build the model a run config describes.

    Args:
        cfg: a :class:`~medclass.config.Config` (``in_chans`` and ``image_size`` default to ``data.channels``
            and ``data.image_size``) or a :class:`~medclass.config.schema.ModelConfig`.
        num_classes: number of classes (from the data).
        in_chans: overrides the config's channel count.
        image_size: overrides the config's image size.
        pretrained: overrides ``model.pretrained`` (``False`` where only the architecture matters: counting
            parameters, profiling).

    ``model.freeze`` is not applied here: the trainer calls :func:`freeze_backbone`.
    """
    model_cfg = getattr(cfg, "model", cfg)
    data_cfg = getattr(cfg, "data", None)
    if in_chans is None:
        in_chans = data_cfg.channels if data_cfg is not None else 1
    if image_size is None and data_cfg is not None:
        image_size = data_cfg.image_size
    return create_model(
        model_cfg.name,
        num_classes=num_classes,
        in_chans=in_chans,
        pretrained=model_cfg.pretrained if pretrained is None else pretrained,
        drop_rate=model_cfg.drop_rate,
        weights=model_cfg.weights,
        cnn=model_cfg.cnn if model_cfg.name == "cnn" else None,
        image_size=image_size,
        **model_cfg.kwargs,
    )
