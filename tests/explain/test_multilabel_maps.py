"""A multi-label model's map of a label explains that label's own logit, also with two labels (where a softmax
head's two logits are explained as their margin)."""

from __future__ import annotations

import torch
from torch import nn

from medclass.explain.methods import explanation_maps
from medclass.explain.multilabel import POSITIVE, LabelLogit


class TwoHalves(nn.Module):
    """Two labels: the mean of the left half of the image, the mean of the right half."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = x.shape[-1] // 2
        return torch.stack([x[..., :half].mean(dim=(1, 2, 3)), x[..., half:].mean(dim=(1, 2, 3))], dim=1)


def test_a_label_map_covers_only_what_that_label_reads() -> None:
    inputs = torch.rand(2, 1, 16, 16) + 0.5
    for label, (own, other) in enumerate(((slice(0, 8), slice(8, 16)), (slice(8, 16), slice(0, 8)))):
        maps, _ = explanation_maps(
            LabelLogit(TwoHalves(), label),
            inputs,
            [POSITIVE] * 2,
            "integrated-gradients",
            None,
            torch.zeros(1, 16, 16),
        )
        assert (maps[:, :, own] > 0).all(), label  # z_label rises with its own half ...
        assert (maps[:, :, other] == 0).all(), label  # ... and ignores the other label's
