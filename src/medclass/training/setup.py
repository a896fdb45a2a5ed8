"""The LightningModule of a run: model, loss weights, schedule length and the checkpoint metadata."""

from __future__ import annotations

import math

import torch
from rich.console import Console
from torch import nn

from medclass.config import Config, config_to_dict
from medclass.data.datamodule import MedDataModule
from medclass.data.preprocess import PreprocessSettings
from medclass.evaluation.thresholds import resolve_positive_class
from medclass.inference.decision import Decision, LabelRule, MultilabelDecision
from medclass.inference.spec import ModelSpec, training_versions
from medclass.models import create_model, freeze_backbone, model_args
from medclass.models.pretrained import NONE, PretrainedWeights, published_weights, resolve_pretrained
from medclass.training.losses import class_weights, label_pos_weight
from medclass.training.module import LitClassifier
from medclass.training.resizing import check_model_takes_size, epoch_image_size
from medclass.transforms.pipelines import mix_alphas
from medclass.utils.errors import ConfigError


def positive_class_of(config: Config, datamodule: MedDataModule) -> str | None:
    """The binary task's positive class: ``evaluation.positive_class``, else the default rule on the class
    counts of all splits (None for multi-class).

    Raises:
        ConfigError: a name that is not a class, or a positive class for a multi-class task.
    """
    if datamodule.multilabel:
        if config.evaluation.positive_class is not None:
            raise ConfigError("evaluation.positive_class: a multi-label model decides every label on its own")
        return None
    counts = sum(datamodule.class_counts(split) for split in ("train", "val", "test"))
    try:
        return resolve_positive_class(datamodule.classes, config.evaluation.positive_class, counts)
    except ValueError as exc:
        raise ConfigError(f"evaluation.positive_class: {exc}") from None


def run_pretrained(config: Config) -> PretrainedWeights:
    """The starting weights of a run. Once ``model.pretrained_source`` records an outcome (:func:`start_weights`,
    a resumed run's config) it is followed: ``none ...`` stays random init, weights are required."""
    model = config.model
    if model.weights is not None:
        return PretrainedWeights(f"{NONE} (model.weights {model.weights})")
    recorded = model.pretrained_source
    if recorded is not None and recorded.startswith(NONE):
        return PretrainedWeights(recorded)
    return resolve_pretrained(model.name, True if recorded else model.pretrained, model.kwargs)


def start_weights(config: Config, console: Console, resume: bool = False) -> Config:
    """Resolve (and download, once) the run's pretrained weights and say so; an ``auto`` that falls back to
    random init prints one warning line. Returns the config with ``model.pretrained_source`` recorded.

    A new run resolves afresh (a ``pretrained_source`` copied from another run's config.yaml is not followed);
    a resumed run (``resume``) follows what it recorded.

    Raises:
        WeightsError: ``model.pretrained: true`` and the weights neither cached nor downloadable.
    """
    if not resume and config.model.pretrained_source is not None:
        config = config.model_copy(
            update={"model": config.model.model_copy(update={"pretrained_source": None})}
        )
    weights = run_pretrained(config)
    if weights.warning:
        console.print(f"[bold yellow]warning:[/] {weights.warning}", highlight=False)
    elif weights.downloaded:
        console.print(f"pretrained weights {weights.source} downloaded to {weights.file}", highlight=False)
    model = config.model.model_copy(update={"pretrained_source": weights.source})
    return config.model_copy(update={"model": model})


def run_normalization(config: Config) -> tuple[list[float] | None, list[float] | None]:
    """``(mean, std)`` for :class:`MedDataModule`: with ``data.normalize: auto`` and pretrained weights recorded
    (``model.pretrained_source``), the weights' own, as they were trained with (grey input: the mean over R, G,
    B); else ``(None, None)``, the data module's rule (auto: the training split's statistics). No network."""
    source = config.model.pretrained_source
    published = published_weights(config.model.name, config.model.kwargs)
    if config.data.normalize != "auto" or not source or source.startswith(NONE) or published is None:
        return None, None
    weights = PretrainedWeights(source, mean=published.mean, std=published.std)
    return weights.stats(config.data.channels) or (None, None)


def normalization_label(config: Config) -> str:
    """Where a run's mean/std come from, for the checkpoint: ``weights (torchvision IMAGENET1K_V1)``,
    ``dataset``, ``imagenet`` or ``none``."""
    if run_normalization(config)[0] is not None:
        return f"weights ({config.model.pretrained_source})"
    return "dataset" if config.data.normalize == "auto" else config.data.normalize


def build_module(
    config: Config, datamodule: MedDataModule, pretrained: PretrainedWeights | None = None
) -> LitClassifier:
    """The model, loss, optimizer and checkpoint metadata for ``config`` (``pretrained``: the starting weights,
    default :func:`run_pretrained`)."""
    num_classes = len(datamodule.classes)
    model = create_model(
        config.model.name,
        num_classes=num_classes,
        in_chans=config.data.channels,
        pretrained=pretrained or run_pretrained(config),
        drop_rate=config.model.drop_rate,
        weights=config.model.weights,
        cnn=config.model.cnn,
        image_size=config.data.image_size,
        **config.model.kwargs,
    )
    if config.model.freeze == "backbone":
        freeze_backbone(model, True)
    check_progressive_resizing(config, model)
    multilabel = datamodule.multilabel
    if multilabel:
        check_multilabel_settings(config)
    spec = ModelSpec(
        model=model_args(model),
        classes=datamodule.classes,
        preprocess={
            "settings": PreprocessSettings.from_config(config.data),
            "mean": datamodule.mean,
            "std": datamodule.std,
            "normalization": normalization_label(config),
        },
        decision=Decision(positive_class=positive_class_of(config, datamodule)),
        multilabel=untuned_label_rules(datamodule.classes) if multilabel else None,
        config=config_to_dict(config),
        versions=training_versions(),
    )
    samples = config.data.epoch_size or len(datamodule.rows["train"])
    module = LitClassifier(
        model,
        config,
        num_classes,
        class_weights=None
        if multilabel
        else class_weights(config.loss.class_weights, datamodule.class_counts("train")),
        steps_per_epoch=math.ceil(math.ceil(samples / world_size(config)) / config.data.batch_size),
        meta=spec.to_dict(),
        multilabel=multilabel,
        pos_weight=label_pos_weight(config.loss.pos_weight, datamodule.targets["train"])
        if multilabel
        else None,
    )
    module.use_channels_last(use_channels_last(config))
    return module


def check_progressive_resizing(config: Config, model: nn.Module) -> None:
    """Refuse ``trainer.progressive_resizing`` that cannot work: a start size not below ``data.image_size``, or a
    model that needs one fixed input size.

    Raises:
        ConfigError: naming the key and what was expected.
    """
    resizing = config.trainer.progressive_resizing
    if resizing is None:
        return
    full = config.data.image_size
    if resizing.start_size >= full:
        raise ConfigError(
            f"trainer.progressive_resizing.start_size: {resizing.start_size} px is not below data.image_size "
            f"({full} px); give a smaller start size or leave progressive resizing off"
        )
    first = epoch_image_size(0, config.trainer.epochs, resizing.start_size, full, resizing.full_size_from)
    check_model_takes_size(model, config.data.channels, first)


def untuned_label_rules(labels: list[str]) -> MultilabelDecision:
    """The per-label rules a multi-label model starts with (every threshold 0.5) until they are chosen on val."""
    return MultilabelDecision({name: LabelRule() for name in labels})


def check_multilabel_settings(config: Config) -> None:
    """Refuse the settings that only a single-label model has.

    Raises:
        ConfigError: naming the key and what a multi-label run allows.
    """
    problems = []
    if config.trainer.monitor == "val_balanced_accuracy":
        problems.append(
            "trainer.monitor = 'val_balanced_accuracy': use val_auroc (mean AUROC), val_loss, ..."
        )
    if config.loss.class_weights != "none":
        problems.append("loss.class_weights: weigh labels with loss.pos_weight: auto")
    if config.loss.label_smoothing > 0:
        problems.append("loss.label_smoothing applies to cross-entropy only")
    if mix_alphas(config.augment):
        problems.append("augment mixup/cutmix mix one class per image; turn them off")
    if config.trainer.refit:
        problems.append("trainer.refit is not available for multi-label models yet")
    if problems:
        raise ConfigError("multi-label data: " + "; ".join(problems))


def world_size(config: Config) -> int:
    """Training processes of a run: devices per node (``auto``/-1 with ddp: every GPU) times nodes."""
    trainer = config.trainer
    devices = trainer.devices
    if devices in ("auto", -1):
        wants_gpu = trainer.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
        devices = torch.cuda.device_count() if wants_gpu and "ddp" in trainer.strategy else 1
    return max(1, int(devices)) * trainer.num_nodes


def use_channels_last(config: Config) -> bool:
    """``auto``: channels_last for convolutional models, on the CPU too, where it trained every measured CNN
    1.14-1.48x faster (BENCHMARKS.md, "channels_last on the CPU"); not for transformers, whose only
    convolution is the patch embedding."""
    setting = config.model.channels_last
    if setting != "auto":
        return bool(setting)
    name = config.model.name.removeprefix("timm:")
    return not name.startswith(("vit", "deit", "swin", "beit", "eva"))
