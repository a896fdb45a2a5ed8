"""The model description: validation, serialisation and the migration of version-1 (``CheckpointMeta``)
checkpoints and bundle descriptions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from medclass.inference.bundle import bundle_spec
from medclass.inference.checkpoint import load_for_inference
from medclass.inference.decision import Decision, probabilities
from medclass.inference.spec import SPEC_VERSION, ModelSpec, migrate
from medclass.models import create_model, model_args
from medclass.utils.errors import WeightsError


def _v1(classes: list[str], threshold: float | None, positive: str | None) -> dict:
    """A description as checkpoints of format 1 stored it (untyped preprocess, bare threshold on classes[1])."""
    decision = {"temperature": 1.5, "threshold": threshold, "rule": "youden", "n": 20}
    if positive is not None:
        decision["positive_class"] = positive
    return {
        "model": {"name": "cnn", "num_classes": len(classes), "in_chans": 1, "image_size": 32},
        "classes": classes,
        "preprocess": {"image_size": 32, "channels": 1, "resize": "stretch", "mean": [0.4], "std": [0.2]},
        "config": {"evaluation": {}},
        "threshold": threshold,
        "temperature": 1.5,
        "format": 1,
        "decision": decision,
    }


def test_version_one_with_the_positive_class_second_keeps_its_threshold() -> None:
    spec = ModelSpec.from_dict(_v1(["no", "yes"], 0.3, "yes"))
    assert spec.spec_version == SPEC_VERSION and spec.preprocess.image_size == 32
    assert spec.preprocess.channels == 1 and spec.preprocess.mean == (0.4,)
    assert (spec.decision.positive_class, spec.decision.positive_index) == ("yes", 1)
    assert spec.decision.threshold == 0.3 and spec.decision.temperature == 1.5


def test_version_one_with_the_positive_class_first_decides_as_before() -> None:
    # Version 1 stored the threshold on P(classes[1]) whatever the positive class; the spec holds it on the
    # positive class's own probability. Away from the threshold itself every decision is the same.
    spec = ModelSpec.from_dict(_v1(["abnormal", "normal"], 0.3, "abnormal"))
    assert spec.decision.positive_index == 0 and spec.decision.threshold == pytest.approx(0.7)
    probs = probabilities(np.random.default_rng(0).normal(size=(500, 2)))
    old = (probs[:, 1] >= 0.3).astype(int)
    new = spec.decision.decide(probs)
    assert np.array_equal(old, new)
    assert migrate(spec.to_dict()) == spec.to_dict()  # the current version passes unchanged


def test_version_one_without_a_decision_record_takes_the_configured_positive_class() -> None:
    old = _v1(["abnormal", "normal"], None, None)
    del old["decision"]
    assert ModelSpec.from_dict(old).positive_class == "normal"  # classes[1], as version 1 decided
    old["config"] = {"evaluation": {"positive_class": "abnormal"}}
    assert ModelSpec.from_dict(old).decision.positive_index == 0


def test_version_one_fields_carry_over_exactly() -> None:
    old = _v1(["no", "yes"], None, "yes")
    old["preprocess"]["normalization"] = "weights (torchvision IMAGENET1K_V1)"
    old["preprocess"]["window"] = [40, 400]
    del old["temperature"]
    spec = ModelSpec.from_dict(old)
    assert spec.decision.temperature == 1.0  # no bare temperature: not calibrated
    assert spec.decision.threshold is None and spec.decision.rule is None  # a rule without threshold is void
    assert spec.decision.n == 20  # the rest of the record is kept
    assert spec.preprocess.normalization == "weights (torchvision IMAGENET1K_V1)"
    assert spec.preprocess.settings.window == (40.0, 400.0) and spec.preprocess.settings.resize == "stretch"
    assert spec.model["name"] == "cnn" and spec.config == {"evaluation": {}}
    three = _v1(["a", "b", "c"], None, None)
    assert ModelSpec.from_dict(three).decision.positive_class is None


def test_invalid_descriptions_are_refused() -> None:
    good = ModelSpec.from_dict(_v1(["no", "yes"], 0.3, "yes")).to_dict()
    with pytest.raises(ValidationError, match="one value per channel"):
        ModelSpec.model_validate({**good, "preprocess": {**good["preprocess"], "mean": [0.1, 0.2, 0.3]}})
    with pytest.raises(ValidationError, match="not one of the classes"):
        ModelSpec.model_validate({**good, "decision": {**good["decision"], "positive_class": "maybe"}})
    with pytest.raises(ValidationError, match="binary tasks only"):
        ModelSpec.model_validate({**good, "classes": ["a", "b", "c"]})
    with pytest.raises(ValidationError, match="extra"):
        ModelSpec.model_validate({**good, "threshold": 0.5})  # a v1 key in a v2 description
    with pytest.raises(WeightsError, match="malformed model description"):
        bundle_spec({"spec": {**good, "classes": []}}, Path("medclass.json"))


def test_a_version_one_checkpoint_loads_and_predicts(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model("cnn", num_classes=2, in_chans=1, image_size=32)
    meta = _v1(["abnormal", "normal"], 0.3, "abnormal")
    meta["model"] = model_args(model)
    file = tmp_path / "old.ckpt"
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "medclass": meta}, file)
    loaded, spec = load_for_inference(file)
    assert spec.decision.positive_class == "abnormal" and spec.decision.threshold == pytest.approx(0.7)
    x = torch.randn(3, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model.eval()(x))


def test_the_json_schema_names_every_field() -> None:
    schema = ModelSpec.model_json_schema()
    assert set(schema["properties"]) == {
        "spec_version",
        "model",
        "classes",
        "preprocess",
        "decision",
        "multilabel",
        "config",
        "source_run",
        "versions",
    }
    json.dumps(schema)  # publishable as it is


def test_decision_rule_round_trips_through_json() -> None:
    spec = ModelSpec.from_dict(_v1(["no", "yes"], 0.3, "yes"))
    spec = spec.with_decision(Decision(temperature=2.0, threshold=0.41, positive_class="no", rule="youden"))
    again = ModelSpec.model_validate(json.loads(json.dumps(spec.to_dict())))
    assert again == spec and again.decision.positive_index == 0
