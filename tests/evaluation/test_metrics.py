"""classification_metrics, the decision rule and the text report: hand-computed cases and sklearn agreement."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from medclass.evaluation.metrics import (
    binary_auc,
    classification_metrics,
    classification_report_text,
)
from medclass.inference.decision import decide

# Binary hand case: positive class = index 1 ("tumor").
Y_BIN = np.array([0, 0, 1, 1, 1])
P1 = np.array([0.1, 0.6, 0.4, 0.8, 0.9])
P_BIN = np.column_stack([1 - P1, P1])
CLASSES_BIN = ["normal", "tumor"]


def _random_case(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 1.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, probs


def test_binary_hand_computed() -> None:
    m = classification_metrics(Y_BIN, P_BIN, CLASSES_BIN)
    # argmax predictions: [0, 1, 0, 1, 1] -> rows = true: [[1, 1], [1, 2]]
    assert m["confusion_matrix"] == [[1, 1], [1, 2]]
    assert m["n"] == 5 and m["classes"] == CLASSES_BIN and m["threshold"] is None
    assert m["accuracy"] == pytest.approx(3 / 5)
    tumor, normal = m["per_class"]["tumor"], m["per_class"]["normal"]
    assert tumor["precision"] == pytest.approx(2 / 3)
    assert tumor["recall"] == tumor["sensitivity"] == pytest.approx(2 / 3)
    assert tumor["specificity"] == pytest.approx(1 / 2)  # TN = 1 of 2 normals
    assert normal["sensitivity"] == pytest.approx(1 / 2)
    assert normal["specificity"] == pytest.approx(2 / 3)
    assert tumor["support"] == 3 and normal["support"] == 2
    # F1: normal 1/2, tumor 2/3 -> macro 7/12; weighted (2 * 1/2 + 3 * 2/3) / 5 = 3/5.
    assert m["macro_f1"] == pytest.approx(7 / 12)
    assert m["weighted_f1"] == pytest.approx(3 / 5)
    assert m["balanced_accuracy"] == pytest.approx(7 / 12)
    # AUROC: positive scores {.4, .8, .9} vs negatives {.1, .6}: 5 of 6 pairs ordered correctly.
    assert m["auroc"] == pytest.approx(5 / 6)
    assert tumor["auroc"] == pytest.approx(5 / 6)
    # Average precision of the tumor score: ranking .9 (P), .8 (P), .6 (N), .4 (P), .1 (N)
    # precision at each positive: 1, 1, 3/4; AP = (1 + 1 + 3/4) / 3 = 11/12.
    assert tumor["pr_auc"] == pytest.approx(11 / 12)


@pytest.mark.parametrize(
    ("threshold", "expected_cm"),
    [
        (0.4, [[1, 1], [0, 3]]),  # 0.4 >= 0.4: the boundary counts as positive
        (0.6, [[1, 1], [1, 2]]),
        (0.61, [[2, 0], [1, 2]]),
        (0.95, [[2, 0], [3, 0]]),
    ],
)
def test_threshold_semantics(threshold: float, expected_cm: list[list[int]]) -> None:
    m = classification_metrics(Y_BIN, P_BIN, CLASSES_BIN, threshold=threshold)
    assert m["confusion_matrix"] == expected_cm
    assert m["threshold"] == threshold
    # A threshold does not change threshold-free metrics.
    assert m["auroc"] == pytest.approx(5 / 6)


def test_threshold_half_matches_argmax_here() -> None:
    assert classification_metrics(Y_BIN, P_BIN, CLASSES_BIN, threshold=0.5)["confusion_matrix"] == [
        [1, 1],
        [1, 2],
    ]


def test_decide() -> None:
    assert decide(P_BIN).tolist() == [0, 1, 0, 1, 1]
    assert decide(P_BIN, threshold=0.4).tolist() == [0, 1, 1, 1, 1]
    assert decide([[0.2, 0.5, 0.3], [0.1, 0.1, 0.8]]).tolist() == [1, 2]
    with pytest.raises(ValueError, match="binary"):
        decide([[0.2, 0.5, 0.3]], threshold=0.5)


def test_four_class_hand_computed() -> None:
    y = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    pred = np.array([0, 1, 1, 1, 2, 0, 3, 2])
    probs = np.full((8, 4), 0.1)
    probs[np.arange(8), pred] = 0.7
    m = classification_metrics(y, probs, ["a", "b", "c", "d"])
    assert m["confusion_matrix"] == [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 1, 0], [0, 0, 1, 1]]
    assert m["accuracy"] == pytest.approx(5 / 8)
    # class "a": TP 1, FP 1 (a "c" image), FN 1 -> precision 1/2, recall 1/2; TN = 8 - 3 = 5 -> spec 5/6.
    a = m["per_class"]["a"]
    assert (a["precision"], a["recall"], a["specificity"]) == pytest.approx((0.5, 0.5, 5 / 6))
    # class "b": TP 2, FP 1 -> precision 2/3, recall 1, F1 = 4/5.
    assert m["per_class"]["b"]["f1"] == pytest.approx(0.8)
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 1 + 0.5 + 0.5) / 4)


@pytest.mark.parametrize("k", [2, 4])
def test_agrees_with_sklearn(k: int) -> None:
    y, probs = _random_case(300, k, seed=k)
    classes = [f"class {i}" for i in range(k)]
    m = classification_metrics(y, probs, classes)
    pred = probs.argmax(axis=1)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert m["weighted_f1"] == pytest.approx(skm.f1_score(y, pred, average="weighted"))
    assert m["confusion_matrix"] == skm.confusion_matrix(y, pred).tolist()
    if k == 2:
        assert m["auroc"] == pytest.approx(skm.roc_auc_score(y, probs[:, 1]))
    else:
        assert m["auroc"] == pytest.approx(skm.roc_auc_score(y, probs, multi_class="ovr", average="macro"))
    precision, recall, f1, support = skm.precision_recall_fscore_support(y, pred)
    for j, name in enumerate(classes):
        row = m["per_class"][name]
        assert row["precision"] == pytest.approx(precision[j])
        assert row["recall"] == pytest.approx(recall[j])
        assert row["f1"] == pytest.approx(f1[j])
        assert row["support"] == support[j]
        assert row["auroc"] == pytest.approx(skm.roc_auc_score(y == j, probs[:, j]))
        assert row["pr_auc"] == pytest.approx(skm.average_precision_score(y == j, probs[:, j]))
        tn = np.sum((y != j) & (pred != j))
        assert row["specificity"] == pytest.approx(tn / np.sum(y != j))


def test_binary_auc_counts_ties_as_half() -> None:
    assert binary_auc([0, 1], [0.5, 0.5]) == 0.5
    assert binary_auc([0, 0, 1], [0.2, 0.5, 0.5]) == pytest.approx(0.75)
    assert binary_auc([1, 1], [0.2, 0.5]) is None


def test_missing_class_gives_none_auroc() -> None:
    y = np.array([0, 1, 3, 3, 0, 1])  # class 2 absent
    probs = np.full((6, 4), 0.25)
    m = classification_metrics(y, probs, ["a", "b", "c", "d"])
    assert m["auroc"] is None
    absent = m["per_class"]["c"]
    assert absent["auroc"] is None and absent["pr_auc"] is None and absent["sensitivity"] is None
    assert absent["support"] == 0 and absent["recall"] == 0.0
    assert m["per_class"]["a"]["auroc"] == pytest.approx(0.5)
    # Balanced accuracy averages the recalls of the classes present only (as sklearn).
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, np.zeros(6, int)))


def test_binary_with_one_class_present() -> None:
    m = classification_metrics([1, 1, 1], [[0.2, 0.8], [0.6, 0.4], [0.1, 0.9]], CLASSES_BIN)
    assert m["auroc"] is None
    assert m["per_class"]["tumor"]["specificity"] is None
    assert m["per_class"]["tumor"]["sensitivity"] == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("y", "probs", "classes", "shape_text"),
    [
        ([0, 1], np.array([0.2, 0.8]), ["a", "b"], "(2,)"),
        ([0, 1, 1], np.full((2, 2), 0.5), ["a", "b"], "(3,)"),
        ([[0, 1]], np.full((2, 2), 0.5), ["a", "b"], "(1, 2)"),
        ([0, 1], np.full((2, 3), 0.3), ["a", "b"], "(2, 3)"),
        ([0, 0], np.ones((2, 1)), ["a"], "(2, 1)"),
        ([], np.empty((0, 2)), ["a", "b"], "(0, 2)"),
    ],
)
def test_bad_shapes_name_the_shape(y: list, probs: np.ndarray, classes: list[str], shape_text: str) -> None:
    with pytest.raises(ValueError, match="shape") as info:
        classification_metrics(y, probs, classes)
    assert shape_text in str(info.value)


def test_bad_values() -> None:
    with pytest.raises(ValueError, match=r"outside 0\.\.1"):
        classification_metrics([0, 2], np.full((2, 2), 0.5), ["a", "b"])
    with pytest.raises(ValueError, match="integer"):
        classification_metrics([0, 0.5], np.full((2, 2), 0.5), ["a", "b"])
    with pytest.raises(ValueError, match="NaN"):
        classification_metrics([0, 1], [[0.5, np.nan], [0.5, 0.5]], ["a", "b"])
    with pytest.raises(ValueError, match="binary"):
        classification_metrics([0, 1, 2], np.full((3, 3), 1 / 3), ["a", "b", "c"], threshold=0.5)
    with pytest.raises(ValueError, match="distinct"):
        classification_metrics([0, 1], np.full((2, 2), 0.5), ["a", "a"])


def test_report_text() -> None:
    text = classification_report_text(Y_BIN, P_BIN, CLASSES_BIN)
    assert "normal" in text and "tumor" in text and "macro avg" in text
    assert "0.6667" in text  # tumor precision/recall with 4 digits
    # Every class gets a row, also one absent from y_true.
    text4 = classification_report_text([0, 1, 1], np.eye(4)[[0, 1, 2]], ["a", "b", "c", "very long name"])
    assert "very long name" in text4
    thresholded = classification_report_text(Y_BIN, P_BIN, CLASSES_BIN, threshold=0.95)
    assert thresholded != text


def test_report_text_of_a_class_never_predicted_shows_zero_precision() -> None:
    # Class "b" is never predicted: its precision is 0 (zero_division=0), not 1.
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3]])
    text = classification_report_text([0, 1, 1], probs, ["a", "b"], digits=2)
    row = next(line.split() for line in text.splitlines() if line.split()[:1] == ["b"])
    assert row == ["b", "0.00", "0.00", "0.00", "2"]
