"""The per-label decision of a multi-label model in the model description, and the single-label description
stored exactly as before."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError

from medclass.inference.decision import LabelRule, MultilabelDecision, label_probabilities
from medclass.inference.spec import ModelSpec

PREPROCESS = {"settings": {"image_size": 32, "channels": 1}, "mean": [0.5], "std": [0.25]}


def _spec(classes, multilabel=None) -> ModelSpec:
    return ModelSpec(model={"name": "cnn"}, classes=classes, preprocess=PREPROCESS, multilabel=multilabel)


def test_a_single_label_description_has_no_multilabel_key() -> None:
    stored = _spec(["no", "yes"]).to_dict()
    assert "multilabel" not in stored
    assert ModelSpec.from_dict(stored).multilabel is None


def test_per_label_rules_round_trip_and_decide_each_label_at_its_threshold() -> None:
    rules = MultilabelDecision({"a": LabelRule(0.2, "youden", n=10), "b": LabelRule(0.7, "sensitivity=0.95")})
    spec = ModelSpec.from_dict(json.loads(json.dumps(_spec(["a", "b"], rules).to_dict())))
    assert spec.is_multilabel and spec.multilabel.rules["b"].rule == "sensitivity=0.95"
    # Two labels are not a binary task: no positive class is filled in.
    assert spec.decision.positive_class is None and spec.decision.threshold is None
    probs = spec.multilabel.probabilities(np.log([[0.25 / 0.75, 0.7 / 0.3], [4.0, 1.0]]))
    assert probs == pytest.approx(np.array([[0.25, 0.7], [0.8, 0.5]]))
    assert spec.multilabel.decide(probs).tolist() == [[True, True], [True, False]]


def test_rules_for_other_labels_are_refused() -> None:
    with pytest.raises(ValidationError, match="do not match the labels"):
        _spec(["a", "b"], MultilabelDecision({"a": LabelRule(), "c": LabelRule()}))


def test_label_probabilities_are_finite_for_extreme_logits() -> None:
    probs = label_probabilities([[-1000.0, 0.0, 1000.0]])
    assert probs.tolist() == [[0.0, 0.5, 1.0]]


def test_commands_without_multi_label_support_refuse_it_by_name() -> None:
    from medclass.utils.errors import ConfigError

    spec = _spec(["a", "b"], MultilabelDecision({"a": LabelRule(), "b": LabelRule()}))
    with pytest.raises(ConfigError, match="explain: not available for multi-label models yet"):
        spec.require_single_label("explain")
    _spec(["no", "yes"]).require_single_label("explain")  # a single-label model passes
