"""Label-wise temperature scaling of a multi-label model: one temperature per label fitted by that label's binary
cross-entropy on val (recovering known temperatures), the thresholds chosen after it, a label that cannot be
fitted kept at 1 with its reason, an old description without temperatures read as T = 1, and an ensemble that
applies each member's temperatures before the mean."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import expit
from torch import nn

from medclass.evaluation.calibration import fit_label_temperatures
from medclass.evaluation.multilabel import choose_label_rules, fit_label_decision
from medclass.inference.decision import LabelRule, MultilabelDecision, label_probabilities
from medclass.inference.ensemble import combine
from medclass.inference.spec import ModelSpec

PREPROCESS = {"settings": {"image_size": 8, "channels": 1}, "mean": [0.5], "std": [0.25]}


def _calibrated_logits(scales: list[float], n: int = 20000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Targets drawn from ``sigmoid(true_logit)``, and logits ``true_logit * s`` per label: the temperature
    that calibrates label k is ``s_k``."""
    rng = np.random.default_rng(seed)
    true_logit = rng.normal(0.0, 2.0, size=(n, len(scales)))
    y = (rng.random(true_logit.shape) < expit(true_logit)).astype(float)
    return true_logit * np.asarray(scales), y


def test_the_per_label_fitter_recovers_known_temperatures() -> None:
    scales = [0.5, 1.0, 3.0]  # under-confident, calibrated, over-confident
    logits, y = _calibrated_logits(scales)
    y[::7, 2] = np.nan  # uncertain values are left out of the label's fit
    fitted = fit_label_temperatures(logits, y)
    assert [reason for _, reason in fitted] == [None, None, None]
    assert [t for t, _ in fitted] == pytest.approx(scales, rel=0.05)


def test_a_label_that_cannot_be_fitted_keeps_t_1_with_the_reason() -> None:
    logits, y = _calibrated_logits([2.0, 2.0, 2.0], n=200)
    y[:, 1] = 0.0  # only negatives
    logits[:, 2] = np.where(y[:, 2] == 1, 1.0, -1.0) + 0.01 * np.arange(200)  # separable
    fitted = fit_label_temperatures(logits, y)
    assert fitted[0][1] is None and fitted[0][0] != 1.0
    assert fitted[1] == (1.0, "only negative images: a temperature cannot be fitted, kept at 1")
    assert fitted[2][0] == 1.0 and fitted[2][1].startswith("separable")


def test_thresholds_are_chosen_on_the_calibrated_probabilities() -> None:
    logits, y = _calibrated_logits([0.4, 3.0], n=400, seed=1)
    labels = ["a", "b"]
    decision = fit_label_decision(logits, y, labels, "sensitivity=0.9", calibrate=True)
    temperatures = decision.temperatures
    assert temperatures == pytest.approx([0.4, 3.0], rel=0.25)
    calibrated = label_probabilities(logits, temperatures)
    expected = choose_label_rules(y, calibrated, labels, "sensitivity=0.9")
    for name, rule in decision.rules.items():
        assert rule.threshold == expected[name].threshold and rule.sensitivity == expected[name].sensitivity
        assert rule.ece_after < rule.ece_before  # miscalibrated by construction, better after
        assert rule.calibration()["temperature"] == rule.temperature
    # Without calibrate: T = 1 and the thresholds of the raw sigmoid.
    plain = fit_label_decision(logits, y, labels, "sensitivity=0.9")
    assert plain.temperatures.tolist() == [1.0, 1.0]
    assert plain.rules["b"].threshold != decision.rules["b"].threshold


def test_an_old_description_without_temperatures_loads_with_t_1() -> None:
    stored = ModelSpec(
        model={"name": "cnn"},
        classes=["a", "b"],
        preprocess=PREPROCESS,
        multilabel=MultilabelDecision({"a": LabelRule(0.3, "youden"), "b": LabelRule(0.6, "youden")}),
    ).to_dict()
    for rule in stored["multilabel"]["rules"].values():  # as written before label-wise calibration
        for key in ("temperature", "ece_before", "ece_after", "temperature_kept"):
            del rule[key]
    spec = ModelSpec.from_dict(stored)
    assert spec.multilabel.temperatures.tolist() == [1.0, 1.0]
    logits = np.array([[0.5, -2.0], [3.0, 0.1]])
    assert spec.multilabel.probabilities(logits) == pytest.approx(expit(logits))

    calibrated = spec.multilabel.rules["b"]
    calibrated.temperature = 2.0
    assert spec.multilabel.probabilities(logits)[:, 1] == pytest.approx(expit(logits[:, 1] / 2.0))


def test_the_ensemble_applies_each_members_label_temperatures_before_the_mean() -> None:
    labels = ["a", "b"]

    def member(seed: int, temperatures: list[float]) -> tuple[nn.Module, ModelSpec]:
        torch.manual_seed(seed)
        rules = {
            n: LabelRule(0.5, "youden", temperature=t) for n, t in zip(labels, temperatures, strict=True)
        }
        spec = ModelSpec(
            model={"name": "cnn"}, classes=labels, preprocess=PREPROCESS, multilabel=MultilabelDecision(rules)
        )
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 2)).eval(), spec

    members = [member(0, [2.0, 0.5]), member(1, [1.0, 4.0])]
    model, spec = combine(members, ["r0", "r1"])
    assert spec.multilabel.temperatures.tolist() == [1.0, 1.0]  # the members' are inside the model
    x = torch.rand(6, 1, 8, 8)
    with torch.no_grad():
        expected = np.mean([s.multilabel.probabilities(m(x).numpy()) for m, s in members], axis=0)
        got = label_probabilities(model(x).numpy())
    assert got == pytest.approx(expected, abs=1e-6)
