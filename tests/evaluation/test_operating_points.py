"""Positive class, per-class operating points chosen on val, and the clinical summary: known answers."""

from __future__ import annotations

import numpy as np
import pytest

from medclass.evaluation.decision_fit import fit_decision
from medclass.evaluation.operating_points import apply_class_thresholds, choose_class_thresholds
from medclass.evaluation.scoring import score, val_operating_points
from medclass.evaluation.thresholds import default_positive_class, resolve_positive_class
from medclass.inference.decision import Decision


@pytest.mark.parametrize(
    ("classes", "counts", "expected"),
    [
        (["normal", "tumor"], None, "tumor"),
        (["tumor", "no_tumor"], [10, 90], "tumor"),
        (["non-malignant", "malignant"], [90, 10], "malignant"),
        (["Tuberculosis", "Normal"], None, "Tuberculosis"),
        (["no", "yes"], [10, 90], "yes"),  # the name wins over the counts
        (["PNEUMONIA", "NORMAL"], [300, 100], "PNEUMONIA"),
        (["cats", "dogs"], [90, 10], "dogs"),  # minority
        (["cats", "dogs"], [10, 90], "cats"),
        (["cats", "dogs"], [50, 50], "dogs"),  # tie: classes[1]
    ],
)
def test_default_positive_class(classes, counts, expected):
    assert default_positive_class(classes, counts) == expected


def test_resolve_positive_class_checks_the_name():
    assert resolve_positive_class(["a", "b"], "a") == "a"
    assert resolve_positive_class(["a", "b", "c"]) is None
    with pytest.raises(ValueError, match="not one of the classes"):
        resolve_positive_class(["a", "b"], "c")
    with pytest.raises(ValueError, match="binary"):
        resolve_positive_class(["a", "b", "c"], "a")


def test_sensitivity_target_refers_to_the_declared_positive_class():
    # classes[0] is the positive class: its sensitivity is the specificity of classes[1].
    p1 = np.array([0.05, 0.1, 0.2, 0.4, 0.45, 0.6, 0.8, 0.9])
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    logits = np.log(np.stack([1 - p1, p1], axis=1))
    d = fit_decision(
        logits, y, ["lesion", "clear"], operating_point="sensitivity=1.0", positive_class="lesion"
    )
    assert d.positive_class == "lesion" and d.positive_index == 0
    # The threshold is on P(lesion) = 1 - p1: lesion images have .6 and up, clear ones .55 and down. Every
    # lesion image must be called lesion, so the cut lies between .55 and .6 (at the midpoint).
    assert d.threshold == pytest.approx(0.575)
    assert np.array_equal(d.decide(np.exp(logits)), y)
    assert d.sensitivity == 1.0 and d.specificity == 1.0


# Three classes each separable from the rest on val (also used by test_operating_points_contract.py).
SEPARABLE_Y = np.array([0, 0, 1, 1, 2, 2])
SEPARABLE_P = np.array(
    [
        [0.8, 0.1, 0.1],
        [0.5, 0.3, 0.2],
        [0.2, 0.7, 0.1],
        [0.4, 0.35, 0.25],
        [0.1, 0.2, 0.7],
        [0.3, 0.3, 0.4],
    ]
)


def test_per_class_thresholds_known_answers():
    y_val, p_val = SEPARABLE_Y, SEPARABLE_P
    points = choose_class_thresholds(y_val, p_val, ["a", "b", "c"])
    # Youden (J = 1 at each): the cut midway between the lowest score of the class's positives and the highest
    # of the rest separates them.
    assert points["per_class"]["a"]["threshold"] == pytest.approx(0.45)
    assert points["per_class"]["b"]["threshold"] == pytest.approx(0.325)
    assert points["per_class"]["c"]["threshold"] == pytest.approx(0.325)
    assert all(
        v["val_sensitivity"] == 1.0 and v["val_specificity"] == 1.0 for v in points["per_class"].values()
    )
    y_test = np.array([0, 1, 2, 2])
    p_test = np.array([[0.42, 0.53, 0.05], [0.3, 0.6, 0.1], [0.2, 0.3, 0.5], [0.1, 0.6, 0.3]])
    applied = apply_class_thresholds(y_test, p_test, ["a", "b", "c"], points)
    a, b, c = (applied["per_class"][k] for k in "abc")
    assert (a["tp"], a["fn"], a["fp"], a["tn"]) == (0, 1, 0, 3)
    assert (
        (b["tp"], b["fp"], b["tn"]) == (1, 2, 1)
        and b["ppv"] == pytest.approx(1 / 3)
        and b["sensitivity"] == 1.0
    )
    assert (c["tp"], c["fn"]) == (1, 1) and c["sensitivity"] == 0.5 and c["specificity"] == 1.0


def test_score_clinical_block_and_val_operating_point():
    # Test set: 4 positives (tb), 4 negatives; at argmax one tb missed and one false alarm.
    p_tb = np.array([0.9, 0.8, 0.6, 0.3, 0.1, 0.2, 0.4, 0.55])
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    probs = np.stack([1 - p_tb, p_tb], axis=1)
    result = score(y, probs, ["normal", "tb"], None, 200, positive_class="tb")
    clinical = result["clinical"]
    assert clinical["positive_class"] == "tb" and clinical["rule"] == "argmax"
    assert (clinical["tp"], clinical["fn"], clinical["fp"], clinical["tn"]) == (3, 1, 1, 3)
    assert clinical["sensitivity"]["value"] == 0.75 and clinical["specificity"]["value"] == 0.75
    assert clinical["ppv"]["value"] == 0.75 and clinical["npv"]["value"] == 0.75
    assert clinical["sensitivity"]["ci_low"] <= 0.75 <= clinical["sensitivity"]["ci_high"]
    # Val: tb scores from 0.25 up, normals 0.2 and below: Youden cuts at 0.225, which flags every test tb.
    p_val = np.array([0.7, 0.25, 0.5, 0.05, 0.2, 0.1])
    y_val = np.array([1, 1, 1, 0, 0, 0])
    logits_val = np.log(np.stack([1 - p_val, p_val], axis=1))
    points = val_operating_points(logits_val, y_val, ["normal", "tb"], Decision(), "tb")
    assert points["rule"] == "youden" and points["threshold"] == pytest.approx(0.225)
    result = score(y, probs, ["normal", "tb"], None, 0, positive_class="tb", operating_points=points)
    at_val = result["operating_points"]["clinical"]
    assert at_val["sensitivity"]["value"] == 1.0 and at_val["fp"] == 2
