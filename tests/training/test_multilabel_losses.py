"""The multi-label losses: BCE with logits equal to torch's, uncertain (NaN) labels left out, pos_weight from the
label frequencies, focal and asymmetric down-weighting easy negatives."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional

from medclass.config.schema import LossConfig
from medclass.training.losses import MultilabelLoss, label_pos_weight


def test_bce_equals_torchs_and_leaves_uncertain_labels_out() -> None:
    torch.manual_seed(0)
    logits = torch.randn(6, 3)
    targets = torch.tensor(
        [[1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 0], [1, 0, 0], [0, 1, 1]], dtype=torch.float32
    )
    loss = MultilabelLoss(LossConfig())
    assert loss(logits, targets) == pytest.approx(
        functional.binary_cross_entropy_with_logits(logits, targets).item()
    )
    uncertain = targets.clone()
    uncertain[0, 2] = float("nan")
    known = ~torch.isnan(uncertain)
    expected = functional.binary_cross_entropy_with_logits(logits[known], targets[known])
    assert loss(logits, uncertain) == pytest.approx(expected.item())
    # Whatever the model says about the uncertain entry, the loss does not move.
    moved = logits.clone()
    moved[0, 2] = 25.0
    assert loss(moved, uncertain) == pytest.approx(loss(logits, uncertain).item())


def test_pos_weight_is_negatives_over_positives_and_weighs_the_positive_terms() -> None:
    targets = np.array([[1, 0], [0, 0], [0, 1], [0, 1], [np.nan, 0]], dtype=np.float32)
    weight = label_pos_weight("auto", targets)
    assert weight.tolist() == pytest.approx([3.0, 1.5])
    assert label_pos_weight("none", targets) is None
    logits, y = torch.zeros(5, 2), torch.from_numpy(np.nan_to_num(targets))
    plain = MultilabelLoss(LossConfig())(logits, y)
    weighted = MultilabelLoss(LossConfig(pos_weight="auto"), weight)(logits, y)
    assert weighted > plain


@pytest.mark.parametrize("kind", ["focal", "asymmetric"])
def test_focal_and_asymmetric_losses_spare_easy_negatives(kind: str) -> None:
    bce, other = MultilabelLoss(LossConfig()), MultilabelLoss(LossConfig(multilabel=kind))
    easy_negative = (torch.tensor([[-4.0]]), torch.tensor([[0.0]]))
    hard_positive = (torch.tensor([[-1.0]]), torch.tensor([[1.0]]))
    # Relative to BCE, the easy negative loses far more weight than the hard positive.
    ratio_easy = other(*easy_negative) / bce(*easy_negative)
    ratio_hard = other(*hard_positive) / bce(*hard_positive)
    assert ratio_easy < 0.05 * ratio_hard
    logits = torch.randn(4, 3, requires_grad=True)
    other(logits, torch.ones(4, 3)).backward()
    assert torch.isfinite(logits.grad).all()
