"""The LightningModule of a run: model, loss weights, schedule length and the checkpoint metadata."""

from __future__ import annotations

import math

import torch

from medclass.config import Config, config_to_dict
from medclass.data.datamodule import MedDataModule
from medclass.data.preprocess import PreprocessSettings
from medclass.inference.checkpoint import CheckpointMeta
from medclass.models import create_model, freeze_backbone, model_args
from medclass.training.losses import class_weights
from medclass.training.module import LitClassifier


def build_module(config: Config, datamodule: MedDataModule) -> LitClassifier:
    """The model, loss, optimizer and checkpoint metadata for ``config``."""
    num_classes = len(datamodule.classes)
    model = create_model(
        config.model.name,
        num_classes=num_classes,
        in_chans=config.data.channels,
        pretrained=config.model.pretrained,
        drop_rate=config.model.drop_rate,
        weights=config.model.weights,
        cnn=config.model.cnn,
        image_size=config.data.image_size,
        **config.model.kwargs,
    )
    if config.model.freeze_backbone:
        freeze_backbone(model, True)
    meta = CheckpointMeta(
        model=model_args(model),
        classes=datamodule.classes,
        preprocess={
            **PreprocessSettings.from_config(config.data).to_dict(),
            "mean": datamodule.mean,
            "std": datamodule.std,
        },
        config=config_to_dict(config),
    )
    samples = config.data.epoch_size or len(datamodule.rows["train"])
    module = LitClassifier(
        model,
        config,
        num_classes,
        class_weights=class_weights(config.loss.class_weights, datamodule.class_counts("train")),
        steps_per_epoch=math.ceil(math.ceil(samples / world_size(config)) / config.data.batch_size),
        meta=meta.to_dict(),
    )
    module.use_channels_last(use_channels_last(config))
    return module


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
