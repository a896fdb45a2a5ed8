"""Patient-level scoring: group aggregation with known answers, and the cluster bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from medclass.evaluation.bootstrap import bootstrap_ci
from medclass.evaluation.groups import aggregate_by_group, group_codes
from medclass.evaluation.scoring import score


def test_group_codes_follow_first_appearance_and_isolate_missing_groups():
    codes = group_codes(["p2", "p1", "p2", "", None, "p1"], paths=list("abcdef"))
    assert codes.tolist() == [0, 1, 0, 2, 3, 1]


def test_mean_and_max_aggregation_known_answers():
    y = np.array([0, 0, 1, 0, 1, 1])
    p1 = np.array([0.1, 0.3, 0.9, 0.2, 0.6, 0.8])
    probs = np.stack([1 - p1, p1], axis=1)
    codes = np.array([0, 0, 1, 1, 2, 2])
    y_g, p_g = aggregate_by_group(y, probs, codes, "mean")
    # Group 1 holds one positive image: a positive patient.
    assert y_g.tolist() == [0, 1, 1]
    np.testing.assert_allclose(p_g[:, 1], [0.2, 0.55, 0.7])
    np.testing.assert_allclose(p_g.sum(axis=1), 1.0)
    _, p_max = aggregate_by_group(y, probs, codes, "max")
    np.testing.assert_allclose(p_max[:, 1], [0.3, 0.9, 0.8])
    np.testing.assert_allclose(p_max[:, 0], [0.7, 0.1, 0.2])


def test_per_group_metrics_in_score_known_answers():
    # Patient A: 3 negative slices, all called negative; patient B: 2 positive slices, one missed
    # (mean 0.55 >= 0.5: the patient is found); patient C: 1 negative slice called positive.
    y = np.array([0, 0, 0, 1, 1, 0])
    p1 = np.array([0.1, 0.2, 0.3, 0.9, 0.2, 0.7])
    probs = np.stack([1 - p1, p1], axis=1)
    result = score(y, probs, ["normal", "tumor"], None, 0, groups=["A", "A", "A", "B", "B", "C"])
    assert result["accuracy"] == pytest.approx(4 / 6)
    by_group = result["by_group"]
    assert by_group["n"] == 3 and by_group["aggregate"] == "mean"
    assert by_group["confusion_matrix"] == [[1, 1], [0, 1]]
    assert by_group["accuracy"] == pytest.approx(2 / 3)
    assert by_group["per_class"]["tumor"]["sensitivity"] == 1.0


def test_score_without_groups_has_no_group_block():
    probs = np.array([[0.8, 0.2], [0.3, 0.7]])
    assert "by_group" not in score(np.array([0, 1]), probs, ["a", "b"], None, 0)


def _correlated_set(rng: np.random.Generator, n_patients: int = 40, per_patient: int = 10):
    """Patients whose slices share one score: the patient is right or wrong as a whole."""
    y_patient = np.repeat([0, 1], n_patients // 2)
    score_patient = np.clip(rng.normal(0.35 + 0.3 * y_patient, 0.2), 0.01, 0.99)
    codes = np.repeat(np.arange(n_patients), per_patient)
    p1 = np.clip(score_patient[codes] + rng.normal(0, 0.01, codes.size), 0.0, 1.0)
    return y_patient[codes], np.stack([1 - p1, p1], axis=1), codes


def test_cluster_ci_is_wider_than_image_ci_when_groups_are_correlated():
    y, probs, codes = _correlated_set(np.random.default_rng(3))
    image = bootstrap_ci(y, probs, ["neg", "pos"], n_resamples=500, seed=0)
    cluster = bootstrap_ci(y, probs, ["neg", "pos"], n_resamples=500, seed=0, clusters=codes)
    assert image["unit"] == "image" and cluster["unit"] == "group" and cluster["n_groups"] == 40
    assert "cluster" in cluster["method"]
    for key in ("accuracy", "auroc"):
        width_image = image[key]["ci_high"] - image[key]["ci_low"]
        width_cluster = cluster[key]["ci_high"] - cluster[key]["ci_low"]
        assert cluster[key]["value"] == image[key]["value"]
        assert width_cluster > 2 * width_image, (key, width_image, width_cluster)


def test_cluster_bootstrap_of_singleton_groups_equals_image_bootstrap():
    y, probs, _ = _correlated_set(np.random.default_rng(4), n_patients=20, per_patient=1)
    image = bootstrap_ci(y, probs, ["neg", "pos"], n_resamples=200, seed=1)
    cluster = bootstrap_ci(y, probs, ["neg", "pos"], n_resamples=200, seed=1, clusters=np.arange(20))
    assert cluster["accuracy"] == image["accuracy"] and cluster["auroc"] == image["auroc"]


def test_multiclass_groups_take_the_majority_label_and_renormalised_maxima():
    # Group 0: labels 2, 2, 0 -> 2; group 1: labels 0, 1 (a tie) -> the lower index, 0.
    y = np.array([2, 2, 0, 1, 0])
    probs = np.array([[0.1, 0.2, 0.7], [0.2, 0.2, 0.6], [0.6, 0.3, 0.1], [0.3, 0.5, 0.2], [0.5, 0.1, 0.4]])
    codes = np.array([0, 0, 0, 1, 1])
    y_g, p_mean = aggregate_by_group(y, probs, codes, "mean")
    assert y_g.tolist() == [2, 0]
    np.testing.assert_allclose(p_mean, [[0.3, 0.7 / 3, 1.4 / 3], [0.4, 0.3, 0.3]])
    _, p_max = aggregate_by_group(y, probs, codes, "max")
    # Column maxima (0.6, 0.3, 0.7) and (0.5, 0.5, 0.4), each row divided by its sum.
    np.testing.assert_allclose(p_max, [[0.6 / 1.6, 0.3 / 1.6, 0.7 / 1.6], [0.5 / 1.4, 0.5 / 1.4, 0.4 / 1.4]])


def test_binary_positive_class_zero():
    y = np.array([1, 0, 1, 1])
    p0 = np.array([0.2, 0.7, 0.4, 0.1])
    probs = np.stack([p0, 1 - p0], axis=1)
    codes = np.array([0, 0, 1, 1])
    y_g, p_max = aggregate_by_group(y, probs, codes, "max", positive=0)
    assert y_g.tolist() == [0, 1]  # group 0 holds an image of class 0, the positive class
    np.testing.assert_allclose(p_max, [[0.7, 0.3], [0.4, 0.6]])


def test_group_codes_without_paths_and_with_nan_numbers_and_blanks():
    codes = group_codes([3, float("nan"), 3, " ", 7, float("nan")])
    assert codes.tolist() == [0, 1, 0, 2, 3, 4]  # NaN and blanks are groups of their own
    # A real group that happens to be named like an image position is not merged with a missing one.
    assert group_codes(["1", None]).tolist() == [0, 1]


@pytest.mark.parametrize(
    ("y", "probs", "codes", "how", "message"),
    [
        ([0, 1], [[0.5, 0.5], [0.5, 0.5]], [0], "mean", "must share N"),
        ([0, 1], [0.5, 0.5], [0, 1], "mean", "must share N"),
        ([0], [[0.5, 0.5], [0.5, 0.5]], [0, 1], "mean", "must share N"),
        ([0, 1], [[0.5, 0.5], [0.5, 0.5]], [0, 1], "median", "expected one of mean, max"),
    ],
)
def test_bad_inputs_are_refused(y, probs, codes, how, message):
    with pytest.raises(ValueError, match=message):
        aggregate_by_group(y, probs, codes, how)
