"""Per-class operating points and the clinical summary against their definitions.

One-vs-rest: class k is flagged when its probability is at least its threshold t_k, chosen on val with the
rule and applied unchanged to test. The expected counts are recomputed here image by image; where the
thresholds sit between scores (at a score or between two) is left to ``evaluation.thresholds``.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from medclass.evaluation.bootstrap import bootstrap_ci
from medclass.evaluation.metrics import classification_metrics
from medclass.evaluation.operating_points import (
    DEFAULT_REPORT_RULE,
    apply_class_thresholds,
    choose_class_thresholds,
    clinical_summary,
)
from medclass.evaluation.thresholds import choose_threshold
from tests.evaluation.test_operating_points import SEPARABLE_P, SEPARABLE_Y

CLASSES = ["glioma", "meningioma", "none", "pituitary"]


def _probs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(CLASSES), n)
    logits = rng.normal(size=(n, len(CLASSES)))
    logits[np.arange(n), y] += 1.2
    return y, np.round(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), 2)


def _counts(flag: list[bool], positive: list[bool]) -> dict[str, int]:
    pairs = list(zip(flag, positive, strict=True))
    return {
        "tp": sum(f and p for f, p in pairs),
        "fp": sum(f and not p for f, p in pairs),
        "fn": sum(p and not f for f, p in pairs),
        "tn": sum(not f and not p for f, p in pairs),
    }


@pytest.mark.parametrize("rule", ["youden", "sensitivity=0.9", "specificity=0.8"])
def test_each_class_gets_the_rules_one_vs_rest_threshold(rule: str) -> None:
    y, p = _probs(80, seed=1)
    points = choose_class_thresholds(y, p, CLASSES, rule)
    assert points["rule"] == rule and points["chosen_on"] == "val"
    assert list(points["per_class"]) == CLASSES
    for k, name in enumerate(CLASSES):
        entry = points["per_class"][name]
        assert set(entry) == {"threshold", "val_sensitivity", "val_specificity"}
        positive = y == k
        t = choose_threshold(rule, positive.astype(int), p[:, k])
        assert entry["threshold"] == pytest.approx(t)
        # The val rates are those of flagging the class at its threshold on the same val images.
        c = _counts((p[:, k] >= entry["threshold"]).tolist(), positive.tolist())
        assert entry["val_sensitivity"] == pytest.approx(c["tp"] / (c["tp"] + c["fn"]))
        assert entry["val_specificity"] == pytest.approx(c["tn"] / (c["tn"] + c["fp"]))
        if rule.startswith("sensitivity"):
            assert entry["val_sensitivity"] >= 0.9
        if rule.startswith("specificity"):
            assert entry["val_specificity"] >= 0.8


def test_separable_classes_get_thresholds_between_negatives_and_positives() -> None:
    y, p = SEPARABLE_Y, SEPARABLE_P
    points = choose_class_thresholds(y, p, ["a", "b", "c"])
    for k, name in enumerate("abc"):
        t = points["per_class"][name]["threshold"]
        assert p[y != k, k].max() < t <= p[y == k, k].min()
        assert points["per_class"][name]["val_sensitivity"] == 1.0
        assert points["per_class"][name]["val_specificity"] == 1.0


def test_default_rule_is_youden() -> None:
    y, p = _probs(40, seed=2)
    assert DEFAULT_REPORT_RULE == "youden"
    assert choose_class_thresholds(y, p, CLASSES) == choose_class_thresholds(y, p, CLASSES, "youden")


def test_class_without_val_positives_or_negatives_has_no_threshold() -> None:
    # "pituitary" has no val image; with every val image "glioma", glioma has no negatives.
    y, p = _probs(30, seed=3)
    y = np.where(y == 3, 0, y)
    points = choose_class_thresholds(y, p, CLASSES)
    assert points["per_class"]["pituitary"] == {
        "threshold": None,
        "val_sensitivity": None,
        "val_specificity": None,
    }
    assert points["per_class"]["glioma"]["threshold"] is not None
    only = choose_class_thresholds(np.zeros(5, dtype=int), p[:5], CLASSES)
    assert all(entry["threshold"] is None for entry in only["per_class"].values())
    # Applied to test, such a class is reported without rates.
    applied = apply_class_thresholds(*_probs(20, seed=4), CLASSES, points)
    assert applied["per_class"]["pituitary"] == points["per_class"]["pituitary"]


def test_applied_thresholds_count_each_class_image_by_image() -> None:
    y_val, p_val = _probs(60, seed=5)
    y, p = _probs(50, seed=6)
    points = choose_class_thresholds(y_val, p_val, CLASSES)
    before = copy.deepcopy(points)
    applied = apply_class_thresholds(y, p, CLASSES, points)
    assert points == before  # the val points are not modified
    assert applied["rule"] == "youden" and applied["chosen_on"] == "val"
    for k, name in enumerate(CLASSES):
        entry = applied["per_class"][name]
        t = points["per_class"][name]["threshold"]
        c = _counts([float(s) >= t for s in p[:, k]], [int(label) == k for label in y])
        assert {key: entry[key] for key in c} == c
        assert entry["sensitivity"] == c["tp"] / (c["tp"] + c["fn"])
        assert entry["specificity"] == c["tn"] / (c["tn"] + c["fp"])
        assert entry["ppv"] == (c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else None)
        assert entry["npv"] == (c["tn"] / (c["tn"] + c["fn"]) if c["tn"] + c["fn"] else None)
        assert all(type(entry[key]) is int for key in c)
        for key in ("threshold", "val_sensitivity", "val_specificity"):
            assert entry[key] == points["per_class"][name][key]


def test_a_score_equal_to_the_threshold_is_flagged_and_empty_ratios_are_none() -> None:
    points = {
        "rule": "youden",
        "chosen_on": "val",
        "per_class": {
            "a": {"threshold": 0.5, "val_sensitivity": 1.0, "val_specificity": 1.0},
            "b": {"threshold": 2.0, "val_sensitivity": 1.0, "val_specificity": 1.0},
        },
    }
    y = np.array([0, 1, 1])
    p = np.array([[0.5, 0.5], [0.5, 0.5], [0.2, 0.8]])
    applied = apply_class_thresholds(y, p, ["a", "b"], points)["per_class"]
    assert (applied["a"]["tp"], applied["a"]["fp"], applied["a"]["tn"], applied["a"]["fn"]) == (1, 1, 1, 0)
    assert applied["a"]["npv"] == 1.0 and applied["a"]["ppv"] == 0.5
    # "b" is never flagged: no PPV (nothing flagged), sensitivity 0, specificity 1.
    b = applied["b"]
    assert (b["tp"], b["fp"], b["fn"], b["tn"]) == (0, 0, 2, 1)
    assert b["ppv"] is None and b["npv"] == pytest.approx(1 / 3)
    assert b["sensitivity"] == 0.0 and b["specificity"] == 1.0
    # A class without negatives in test has no specificity, without positives no sensitivity.
    only_b = apply_class_thresholds(np.array([1, 1]), p[1:], ["a", "b"], points)["per_class"]
    assert only_b["b"]["specificity"] is None and only_b["a"]["sensitivity"] is None


def _metrics(y: np.ndarray, p1: np.ndarray, classes: list[str], with_ci: bool) -> dict:
    probs = np.stack([1 - p1, p1], axis=1)
    metrics = classification_metrics(y, probs, classes)
    if with_ci:
        metrics["ci"] = bootstrap_ci(y, probs, classes, n_resamples=50)
    return metrics


@pytest.mark.parametrize("positive_index", [0, 1])
@pytest.mark.parametrize("with_ci", [False, True])
def test_clinical_summary_reads_the_declared_positive_class(positive_index: int, with_ci: bool) -> None:
    classes = ["abnormal", "normal"]
    positive, negative = classes[positive_index], classes[1 - positive_index]
    # Argmax: 5 abnormal (3 called abnormal), 7 normal (1 called abnormal).
    y = np.array([0] * 5 + [1] * 7)
    p1 = np.array([0.1, 0.2, 0.4, 0.7, 0.9, 0.8, 0.3, 0.6, 0.55, 0.9, 0.95, 0.65])
    metrics = _metrics(y, p1, classes, with_ci)
    summary = clinical_summary(metrics, positive, "argmax")
    cm = metrics["confusion_matrix"]
    i, j = positive_index, 1 - positive_index
    assert (summary["positive_class"], summary["negative_class"], summary["rule"]) == (
        positive,
        negative,
        "argmax",
    )
    assert (summary["tp"], summary["fn"], summary["fp"], summary["tn"]) == (
        cm[i][i],
        cm[i][j],
        cm[j][i],
        cm[j][j],
    )
    assert summary["n"] == 12
    per = metrics["per_class"]
    expected = {
        "sensitivity": per[positive]["sensitivity"],
        "specificity": per[positive]["specificity"],
        "ppv": per[positive]["precision"],
        "npv": per[negative]["precision"],
    }
    if positive_index == 0:  # known answers for "abnormal": 3 of 5 found, 6 of 7 normals cleared
        assert expected == pytest.approx({"sensitivity": 0.6, "specificity": 6 / 7, "ppv": 0.75, "npv": 0.75})
    for key, value in expected.items():
        block = summary[key]
        assert block["value"] == pytest.approx(value), key
        if with_ci:
            ci_key = {"ppv": "precision", "npv": "precision"}.get(key, key)
            name = negative if key == "npv" else positive
            assert block == metrics["ci"]["per_class"][name][ci_key]
            assert block["ci_low"] <= block["value"] <= block["ci_high"]
        else:
            assert block["ci_low"] is None and block["ci_high"] is None
    auroc = summary["auroc"]
    assert auroc["value"] == pytest.approx(metrics["auroc"])
    if with_ci:
        assert auroc == metrics["ci"]["auroc"] and auroc["ci_low"] is not None
    else:
        assert auroc == {"value": metrics["auroc"], "ci_low": None, "ci_high": None}


def test_clinical_summary_copies_the_intervals_it_reports() -> None:
    metrics = _metrics(np.array([0, 0, 1, 1, 1]), np.array([0.2, 0.6, 0.7, 0.4, 0.9]), ["neg", "pos"], True)
    summary = clinical_summary(metrics, "pos", "threshold 0.5")
    summary["sensitivity"]["value"] = -1.0
    summary["auroc"]["value"] = -1.0
    assert metrics["ci"]["per_class"]["pos"]["sensitivity"]["value"] == pytest.approx(2 / 3)
    assert metrics["ci"]["auroc"]["value"] == pytest.approx(5 / 6)


def test_clinical_summary_without_an_interval_for_one_class_falls_back_to_the_value() -> None:
    metrics = _metrics(np.array([0, 0, 1, 1, 1]), np.array([0.2, 0.6, 0.7, 0.4, 0.9]), ["neg", "pos"], True)
    del metrics["ci"]["per_class"]["neg"]
    del metrics["ci"]["auroc"]
    summary = clinical_summary(metrics, "pos", "argmax")
    assert summary["npv"] == {"value": 0.5, "ci_low": None, "ci_high": None}
    assert summary["auroc"] == {"value": pytest.approx(5 / 6), "ci_low": None, "ci_high": None}
    assert summary["ppv"]["ci_low"] is not None
