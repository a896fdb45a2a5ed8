"""fit_decision and the val operating points, on logits with known answers (pure functions)."""

from __future__ import annotations

import numpy as np
import pytest

from medclass.evaluation.calibration import expected_calibration_error, fit_temperature
from medclass.evaluation.decision_fit import fit_decision, training_rule
from medclass.evaluation.operating_points import choose_class_thresholds
from medclass.evaluation.scoring import val_operating_points
from medclass.evaluation.thresholds import threshold_for_sensitivity, youden_threshold
from medclass.inference.decision import ECE_BINS, Decision, probabilities
from medclass.utils.errors import ConfigError, DataError

CLASSES = ["normal", "tumor"]


def _binary_logits(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Over-confident logits of a two-class model that is right about 80% of the time."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    margin = 4.0 * (2 * y - 1) + rng.normal(scale=4.0, size=n)
    return np.stack([-margin / 2, margin / 2], axis=1), y


def test_calibrated_binary_decision_at_a_sensitivity_target() -> None:
    logits, y = _binary_logits()
    decision = fit_decision(logits, y, CLASSES, True, "sensitivity=0.9", split="val")
    temperature = fit_temperature(logits, y)
    assert decision.temperature == pytest.approx(temperature)
    probs = probabilities(logits, temperature)
    assert decision.threshold == pytest.approx(threshold_for_sensitivity(y, probs[:, 1], 0.9))
    predicted = probs[:, 1] >= decision.threshold
    assert decision.sensitivity == pytest.approx(predicted[y == 1].mean()) and decision.sensitivity >= 0.9
    assert decision.specificity == pytest.approx((~predicted[y == 0]).mean())
    assert decision.ece_before == pytest.approx(
        expected_calibration_error(y, probabilities(logits), ECE_BINS)
    )
    assert decision.ece_after == pytest.approx(expected_calibration_error(y, probs, ECE_BINS))
    assert decision.ece_after < decision.ece_before
    assert (decision.n, decision.positive_class, decision.rule) == (200, "tumor", "sensitivity=0.9")
    assert decision.operating_point() == {
        "rule": "sensitivity=0.9",
        "positive_class": "tumor",
        "threshold": decision.threshold,
        "chosen_on": "val",
        "n": 200,
        "val_sensitivity": decision.sensitivity,
        "val_specificity": decision.specificity,
    }
    assert decision.calibration() == {
        "temperature": decision.temperature,
        "fitted_on": "val",
        "val_ece_before": decision.ece_before,
        "val_ece_after": decision.ece_after,
        "n_bins": ECE_BINS,
    }


def test_the_rule_holds_for_a_positive_class_at_index_zero() -> None:
    logits, y = _binary_logits(seed=1)
    decision = fit_decision(logits, y, CLASSES, False, "sensitivity=0.95", positive_class="normal")
    probs = probabilities(logits)
    called_normal = probs[:, 0] >= decision.threshold  # the threshold is on the positive class's probability
    assert decision.positive_class == "normal" and decision.positive_index == 0
    assert np.array_equal(decision.decide(probs) == 0, called_normal)
    assert (
        decision.sensitivity == pytest.approx(called_normal[y == 0].mean()) and decision.sensitivity >= 0.95
    )
    assert decision.specificity == pytest.approx((~called_normal[y == 1]).mean())


def test_without_rule_or_calibration_the_decision_is_the_argmax() -> None:
    logits, y = _binary_logits()
    decision = fit_decision(logits, y, CLASSES, split="train")
    assert (decision.temperature, decision.threshold, decision.rule) == (1.0, None, None)
    assert decision.operating_point() is None
    assert decision.calibration()["fitted_on"] is None
    assert decision.calibration()["train_ece_before"] == decision.ece_before == decision.ece_after
    kept = fit_decision(logits, y, CLASSES, False, None, temperature=2.5)
    assert kept.temperature == 2.5
    assert kept.ece_after == pytest.approx(
        expected_calibration_error(y, probabilities(logits, 2.5), ECE_BINS)
    )
    three = fit_decision(np.zeros((3, 3)), np.arange(3), ["a", "b", "c"])
    assert three.positive_class is None


def test_refusals_name_the_problem() -> None:
    logits, y = _binary_logits(20)
    with pytest.raises(DataError, match="the val split is empty"):
        fit_decision(logits[:0], y[:0], CLASSES, True, "youden")
    with pytest.raises(ConfigError, match="binary tasks only"):
        fit_decision(np.zeros((3, 3)), np.arange(3), ["a", "b", "c"], False, "youden")
    with pytest.raises(ConfigError, match="--operating-point"):
        fit_decision(logits, y, CLASSES, False, "precision=0.9")
    with pytest.raises(DataError, match="choosing the youden threshold on the val split"):
        fit_decision(logits, np.ones(20, int), CLASSES, False, "youden")


def test_val_operating_points_binary_and_multiclass() -> None:
    logits, y = _binary_logits()
    # No rule in the decision: a Youden threshold on the probabilities at the decision's temperature.
    points = val_operating_points(logits, y, CLASSES, Decision(temperature=2.0), positive_class="tumor")
    expected = youden_threshold(y, probabilities(logits, 2.0)[:, 1])
    assert points == {"rule": "youden", "chosen_on": "val", "positive_class": "tumor", "threshold": expected}
    # A rule in the decision: its own threshold is reported as it is.
    own = Decision(threshold=0.3, rule="sensitivity=0.9", positive_class="tumor")
    assert val_operating_points(logits, y, CLASSES, own) == {
        "rule": "sensitivity=0.9", "chosen_on": "val", "positive_class": "tumor", "threshold": 0.3,
    }  # fmt: skip
    rng = np.random.default_rng(2)
    y3 = np.arange(90) % 3
    logits3 = rng.normal(size=(90, 3)) + 2.0 * np.eye(3)[y3]
    classes3 = ["a", "b", "c"]
    points3 = val_operating_points(logits3, y3, classes3, Decision(temperature=1.5))
    assert points3 == choose_class_thresholds(y3, probabilities(logits3, 1.5), classes3, "youden")
    assert set(points3["per_class"]) == set(classes3)


def test_training_fits_youden_for_a_binary_model_unless_told_otherwise() -> None:
    y = np.array([0, 0, 1, 1, 0])
    assert training_rule(None, CLASSES, y, None) == "youden"  # the default for a binary model
    assert training_rule(None, CLASSES, y, CLASSES[0]) == "youden"
    assert (
        training_rule("argmax", CLASSES, y, None) == "argmax"
    )  # the opt-out is kept, and means no threshold
    assert fit_decision(*_binary_logits(), CLASSES, False, "argmax").threshold is None
    assert training_rule("sensitivity=0.9", CLASSES, y, None) == "sensitivity=0.9"
    assert training_rule(None, ["a", "b", "c"], np.arange(3), None) is None  # multi-class: the argmax
    # Without positives (or negatives) in val no threshold can be chosen: the default falls back to the argmax.
    assert training_rule(None, CLASSES, np.zeros(4, int), None) is None
    assert training_rule(None, CLASSES, np.ones(4, int), CLASSES[1]) is None
    assert training_rule(None, CLASSES, np.ones(4, int), CLASSES[0]) is None
