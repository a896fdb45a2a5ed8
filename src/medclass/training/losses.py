"""Classification losses: cross-entropy with label smoothing and class weights, and the multi-label losses
(BCE with logits, focal, asymmetric; per-label positive weights), plus an optional L2 term."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from medclass.config.schema import LossConfig
from medclass.inference.torch_decision import torch_label_probabilities
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


def label_pos_weight(setting: str, targets: np.ndarray) -> torch.Tensor | None:
    """Per-label weight of the positive term of a multi-label loss: ``none``, or ``auto``, each label's
    negatives / positives among the training images where it is known (as ``BCEWithLogitsLoss(pos_weight)``
    suggests), so a rare finding weighs as much as a common one.

    Args:
        setting: ``loss.pos_weight``.
        targets: ``(N, K)`` training targets (1, 0, NaN uncertain).
    """
    if setting == "none":
        return None
    positives = np.nansum(targets == 1, axis=0).astype(np.float64)
    negatives = np.nansum(targets == 0, axis=0).astype(np.float64)
    return torch.tensor(negatives / np.maximum(positives, 1.0), dtype=torch.float32)


def asymmetric_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    gamma_neg: float = 4.0,
    gamma_pos: float = 0.0,
    clip: float = 0.05,
) -> torch.Tensor:
    """Element-wise asymmetric loss (Ridnik et al., "Asymmetric Loss for Multi-Label Classification", ICCV 2021,
    eq. 6 with the paper's defaults gamma- 4, gamma+ 0, m 0.05): easy negatives are down-weighted by
    ``p**gamma_neg`` and those below the margin ``clip`` dropped, which suits findings that are rare per image.
    Written here (20 lines) because no maintained PyPI package provides it for plain torch."""
    probs = torch_label_probabilities(logits)
    shifted = (probs - clip).clamp(min=0) if clip > 0 else probs
    log_pos = torch.log(probs.clamp(min=1e-8))
    log_neg = torch.log((1 - shifted).clamp(min=1e-8))
    positive = targets * (1 - probs).pow(gamma_pos) * log_pos
    negative = (1 - targets) * shifted.pow(gamma_neg) * log_neg
    return -(positive + negative)


class MultilabelLoss(nn.Module):
    """A multi-label loss over ``(N, K)`` logits and ``(N, K)`` targets in which NaN (an uncertain label under the
    ``ignore`` policy) is left out: binary cross-entropy with logits, focal (torchvision's
    ``sigmoid_focal_loss``, gamma 2, no alpha: ``pos_weight`` balances the labels) or asymmetric; averaged over
    the known entries, plus the L2 term."""

    def __init__(self, config: LossConfig, pos_weight: torch.Tensor | None = None) -> None:
        super().__init__()
        self.kind = config.multilabel
        self.l2 = config.l2_penalty
        self.register_buffer("pos_weight", pos_weight)

    def forward(
        self, logits: torch.Tensor, targets: torch.Tensor, model: nn.Module | None = None
    ) -> torch.Tensor:
        from torch.nn import functional
        from torchvision.ops import sigmoid_focal_loss

        known = ~torch.isnan(targets)
        y = torch.nan_to_num(targets, nan=0.0).to(logits.dtype)
        if self.kind == "bce":
            terms = functional.binary_cross_entropy_with_logits(
                logits, y, pos_weight=self.pos_weight, reduction="none"
            )
        else:
            if self.kind == "focal":
                terms = sigmoid_focal_loss(logits, y, alpha=-1, gamma=2.0, reduction="none")
            else:
                terms = asymmetric_loss(logits, y)
            if self.pos_weight is not None:
                terms = terms * torch.where(y > 0, self.pos_weight.to(terms.dtype), torch.ones_like(terms))
        loss = (terms * known).sum() / known.sum().clamp(min=1)
        if self.l2 > 0 and model is not None:
            loss = loss + self.l2 * l2_penalty(model)
        return loss
