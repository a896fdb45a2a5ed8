"""The ensemble of multi-label models: the logit of the members' mean sigmoid probability per label (so the
multi-label decision's sigmoid gives back the mean), and a mix of single- and multi-label members refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from medclass.inference.decision import LabelRule, MultilabelDecision, label_probabilities
from medclass.inference.ensemble import combine
from medclass.inference.spec import ModelSpec
from medclass.utils.errors import ConfigError


def _spec(classes, mean: float, multilabel: bool = True) -> ModelSpec:
    rules = MultilabelDecision({c: LabelRule(0.5, "youden") for c in classes}) if multilabel else None
    preprocess = {"settings": {"image_size": 8, "channels": 1}, "mean": [mean], "std": [0.25]}
    return ModelSpec(model={"name": "cnn"}, classes=classes, preprocess=preprocess, multilabel=rules)


def _member(seed: int, outputs: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, outputs)).eval()


def test_the_multilabel_ensemble_averages_sigmoid_probabilities_per_label() -> None:
    labels = ["a", "b", "c"]
    members = [(_member(0, 3), _spec(labels, 0.5)), (_member(1, 3), _spec(labels, 0.4))]
    model, spec = combine(members, ["r0", "r1"])
    assert spec.is_multilabel and spec.classes == labels and spec.multilabel.labels == labels
    x = torch.rand(5, 1, 8, 8)  # normalised as the first member's input
    raw = x * 0.25 + 0.5
    with torch.no_grad():
        expected = np.mean(
            [torch.sigmoid(m((raw - s.preprocess.mean[0]) / 0.25)).numpy() for m, s in members], axis=0
        )
        got = label_probabilities(model(x).numpy())
    assert got == pytest.approx(expected, abs=1e-6)
    assert not np.allclose(got, label_probabilities(members[0][0](x).detach().numpy()), atol=1e-3)


def test_single_and_multilabel_members_are_refused_by_name() -> None:
    members = [
        (_member(0, 3), _spec(["a", "b", "c"], 0.5)),
        (_member(1, 3), _spec(["a", "b", "c"], 0.5, False)),
    ]
    with pytest.raises(ConfigError, match="r0 is a multi-label model and r1 a single-label one"):
        combine(members, ["r0", "r1"])
