"""The LightningModule: a plain classifier ``nn.Module`` plus loss, metrics and optimizer set-up."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import nn
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassAUROC,
    MulticlassF1Score,
    MulticlassRecall,
    MultilabelAccuracy,
    MultilabelAUROC,
    MultilabelAveragePrecision,
    MultilabelF1Score,
)

from medclass.config.schema import Config
from medclass.inference.torch_decision import torch_label_probabilities, torch_probabilities
from medclass.runs import monitor_mode
from medclass.training.callbacks import WeightsEMA
from medclass.training.losses import ClassificationLoss, MultilabelLoss
from medclass.training.optim import build_optimizer, build_scheduler, parameter_groups
from medclass.training.resizing import epoch_image_size, resize_batch
from medclass.transforms.pipelines import batch_mixer


def validation_metrics(num_classes: int) -> MetricCollection:
    """Epoch-level validation scores; balanced accuracy is the macro-averaged recall."""
    return MetricCollection(
        {
            "accuracy": MulticlassAccuracy(num_classes, average="micro"),
            "balanced_accuracy": MulticlassRecall(num_classes, average="macro"),
            "macro_f1": MulticlassF1Score(num_classes, average="macro"),
            "auroc": MulticlassAUROC(num_classes, average="macro"),
        },
        prefix="val_",
    )


# Where an uncertain label (NaN target, the ``ignore`` policy) goes in the multi-label metrics: left out.
IGNORED_TARGET = -1


def multilabel_validation_metrics(num_labels: int) -> MetricCollection:
    """Epoch-level validation scores of a multi-label model: ``val_auroc`` is the mean per-label AUROC (macro),
    ``val_map`` the mean average precision; accuracy and F1 at 0.5 over the labels."""
    common = {"num_labels": num_labels, "ignore_index": IGNORED_TARGET}
    return MetricCollection(
        {
            "accuracy": MultilabelAccuracy(average="micro", **common),
            "macro_f1": MultilabelF1Score(average="macro", **common),
            "auroc": MultilabelAUROC(average="macro", **common),
            "map": MultilabelAveragePrecision(average="macro", **common),
        },
        prefix="val_",
    )


def metric_targets(targets: torch.Tensor) -> torch.Tensor:
    """Integer targets for torchmetrics: multi-label NaN (uncertain) becomes :data:`IGNORED_TARGET`."""
    if targets.is_floating_point():
        return torch.nan_to_num(targets, nan=IGNORED_TARGET).long()
    return targets


class LitClassifier(L.LightningModule):
    """Trains ``model`` with the loss, optimizer and schedule of ``config``.

    Args:
        model: any classifier returning ``(N, num_classes)`` logits.
        config: the resolved run config.
        num_classes: number of classes.
        class_weights: per-class loss weights or None.
        steps_per_epoch: optimizer steps per epoch (for per-batch schedules).
        meta: what a checkpoint needs for standalone inference (model args, classes, preprocessing); saved
            under the ``medclass`` key of every checkpoint.
        multilabel: ``num_classes`` independent labels (sigmoid outputs, :class:`MultilabelLoss`).
        pos_weight: multi-label: per-label weights of the positive terms (``loss.pos_weight``).
    """

    def __init__(
        self,
        model: nn.Module,
        config: Config,
        num_classes: int,
        class_weights: torch.Tensor | None = None,
        steps_per_epoch: int = 1,
        meta: dict[str, Any] | None = None,
        multilabel: bool = False,
        pos_weight: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.config = config
        self.steps_per_epoch = steps_per_epoch
        self.meta = meta or {}
        self.multilabel = multilabel
        if multilabel:
            self.criterion: nn.Module = MultilabelLoss(config.loss, pos_weight)
            self.train_accuracy = MultilabelAccuracy(
                num_classes, average="micro", ignore_index=IGNORED_TARGET
            )
            self.val_metrics = multilabel_validation_metrics(num_classes)
        else:
            self.criterion = ClassificationLoss(config.loss, class_weights)
            self.train_accuracy = MulticlassAccuracy(num_classes, average="micro")
            self.val_metrics = validation_metrics(num_classes)
        # A metric, not a logged mean: in a DDP run it sums over every process's share of the split.
        self.val_loss = MeanMetric()
        self.channels_last = False
        self.mixer = None if multilabel else batch_mixer(config.augment, num_classes)
        self.weight_average: WeightsEMA | None = None  # set by fit() when trainer.ema_decay is on

    def use_channels_last(self, enabled: bool) -> None:
        """Run the model (and its inputs) in channels_last memory format."""
        self.channels_last = enabled
        if enabled:
            self.model.to(memory_format=torch.channels_last)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.model(images)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, targets = batch
        side = self.training_image_size()
        if side is not None:
            images = resize_batch(images, side)
        # MixUp/CutMix: the loss takes the mixed (soft) labels, train accuracy the dominant original one.
        images, loss_targets = self.mixer(images, targets) if self.mixer else (images, targets)
        logits = self(images)
        loss = self.criterion(logits, loss_targets, self.model)
        self.train_accuracy(logits, metric_targets(targets))
        self.log(
            "train_loss",
            loss,
            on_step=False,
            on_epoch=True,
            prog_bar=True,
            batch_size=len(targets),
            sync_dist=True,
        )
        self.log("train_accuracy", self.train_accuracy, on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def training_image_size(self) -> int | None:
        """The side of this epoch's training images under ``trainer.progressive_resizing`` (None: it is off)."""
        resizing = self.config.trainer.progressive_resizing
        if resizing is None:
            return None
        return epoch_image_size(
            self.current_epoch,
            self.config.trainer.epochs,
            resizing.start_size,
            self.config.data.image_size,
            resizing.full_size_from,
        )

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, targets = batch
        # Scored as inference runs the model, in full precision whatever trainer.precision trains at: early
        # stopping, the best checkpoint and tune's objective then agree with evaluate and predict.
        with torch.autocast(images.device.type, enabled=False):
            logits = self(images.float())
        loss = self.criterion(logits, targets)  # the L2 term is a training device, not part of val loss
        probs = torch_label_probabilities(logits) if self.multilabel else torch_probabilities(logits)
        self.val_metrics.update(probs, metric_targets(targets))
        self.val_loss.update(loss, weight=len(targets))

    def on_validation_epoch_end(self) -> None:
        # The metrics are already gathered over the processes; sync_dist only averages equal values.
        self.log("val_loss", self.val_loss.compute(), prog_bar=True, sync_dist=True)
        self.log_dict(self.val_metrics.compute(), prog_bar=False, sync_dist=True)
        self.val_metrics.reset()
        self.val_loss.reset()

    def configure_optimizers(self) -> Any:
        optimizer = build_optimizer(parameter_groups(self.model, self.config.optim), self.config.optim)
        schedulers = build_scheduler(
            optimizer,
            self.config.scheduler,
            epochs=self.config.trainer.epochs,
            steps_per_epoch=self.steps_per_epoch,
            monitor=self.config.trainer.monitor,
            monitor_mode=monitor_mode(self.config.trainer.monitor),
        )
        return [optimizer], schedulers

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["medclass"] = self.meta
        # A full save (last.ckpt) has the average from the callback's own hook, with the raw weights beside it;
        # a weights-only save (best.ckpt) skips that hook, so the average goes in here.
        averaged = self.weight_average.averaged_state() if self.weight_average else None
        if averaged is not None and "current_model_state" not in checkpoint:
            checkpoint["state_dict"] = averaged
