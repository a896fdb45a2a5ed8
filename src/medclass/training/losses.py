"""Classification loss: cross-entropy with label smoothing and class weights, plus an optional L2 term."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from medclass.config.schema import LossConfig
from medclass.utils.errors import ConfigError


def class_weights(setting: str | Sequence[float], counts: Sequence[int]) -> torch.Tensor | None:
    """Per-class loss weights: ``none``, ``auto`` (inverse frequency, mean 1) or an explicit list.

    Args:
        setting: ``loss.class_weights``.
        counts: training images per class.
    """
    if setting == "none":
        return None
    counts = np.asarray(counts, dtype=np.float64)
    if setting == "auto":
        weights = counts.sum() / (len(counts) * np.maximum(counts, 1))
    else:
        weights = np.asarray(setting, dtype=np.float64)
        if len(weights) != len(counts):
            raise ConfigError(
                f"loss.class_weights = {list(setting)}: needs one weight per class ({len(counts)} classes)"
            )
    return torch.tensor(weights, dtype=torch.float32)


def l2_penalty(model: nn.Module) -> torch.Tensor:
    """Sum of squared trainable weights (what an explicit L2 term in the loss adds, times its factor)."""
    terms = [p.pow(2).sum() for p in model.parameters() if p.requires_grad]
    return torch.stack(terms).sum() if terms else torch.zeros(())


class ClassificationLoss(nn.Module):
    """Cross-entropy (label smoothing, class weights) plus ``l2_penalty * sum(w**2)`` over the model."""

    def __init__(self, config: LossConfig, weights: torch.Tensor | None = None) -> None:
        super().__init__()
        self.l2 = config.l2_penalty
        self.cross_entropy = nn.CrossEntropyLoss(weight=weights, label_smoothing=config.label_smoothing)

    def forward(
        self, logits: torch.Tensor, targets: torch.Tensor, model: nn.Module | None = None
    ) -> torch.Tensor:
        loss = self.cross_entropy(logits, targets)
        if self.l2 > 0 and model is not None:
            loss = loss + self.l2 * l2_penalty(model)
        return loss
