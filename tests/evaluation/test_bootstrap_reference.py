"""bootstrap_ci against its definition: every interval is the percentile interval of the metric recomputed on
each resampled data set, with the resamples where the metric is undefined left out.

The resamples are observed through a spy on the drawing function (the multiplicity of each image, or of each
group), then expanded into plain data sets and scored by ``classification_metrics``, the function whose
numbers the point estimates are; nothing of the vectorised arithmetic is reused.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pytest

from medclass.evaluation import bootstrap
from medclass.evaluation.bootstrap import BOOTSTRAP_SEED, bootstrap_ci
from medclass.evaluation.metrics import classification_metrics

HEADLINE = ("accuracy", "balanced_accuracy", "macro_f1", "auroc")
PER_CLASS = ("sensitivity", "specificity", "precision")


def _case(n: int, k: int, seed: int, ties: bool = True) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 1.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, (np.round(probs, 1) if ties else probs)


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    """Record every block of multiplicities the bootstrap draws."""
    drawn: list[np.ndarray] = []
    original = bootstrap._draw_counts

    def recording(*args: Any, **kwargs: Any) -> np.ndarray:
        counts = original(*args, **kwargs)
        drawn.append(counts.copy())
        return counts

    monkeypatch.setattr(bootstrap, "_draw_counts", recording)
    return drawn


def _resampled_values(
    y: np.ndarray, probs: np.ndarray, classes: list[str], rows: np.ndarray, threshold: float | None
) -> dict[tuple[str, ...], list[float]]:
    """Each metric of each resampled data set; a resample where the metric is undefined adds nothing."""
    k = probs.shape[1]
    present = np.bincount(y, minlength=k) > 0
    values: dict[tuple[str, ...], list[float]] = defaultdict(list)
    for multiplicity in rows:
        idx = np.repeat(np.arange(y.size), multiplicity)
        m = classification_metrics(y[idx], probs[idx], classes, threshold)
        drawn = np.bincount(y[idx], minlength=k) > 0
        predicted = np.asarray(m["confusion_matrix"]).sum(axis=0)
        values[("accuracy",)].append(m["accuracy"])
        values[("macro_f1",)].append(m["macro_f1"])
        if drawn[present].all():  # balanced accuracy: every class of the test set drawn
            values[("balanced_accuracy",)].append(m["balanced_accuracy"])
        if m["auroc"] is not None:
            values[("auroc",)].append(m["auroc"])
        for j, name in enumerate(classes):
            row = m["per_class"][name]
            if row["sensitivity"] is not None:
                values[(name, "sensitivity")].append(row["sensitivity"])
            if row["specificity"] is not None:
                values[(name, "specificity")].append(row["specificity"])
            if predicted[j] > 0:  # precision: only where something was predicted as the class
                values[(name, "precision")].append(row["precision"])
    return values


def _expected(point: float | None, values: list[float], confidence: float) -> dict[str, float | None]:
    if point is None:
        return {"value": None, "ci_low": None, "ci_high": None}
    if not values:
        return {"value": point, "ci_low": None, "ci_high": None}
    alpha = 1 - confidence
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return {"value": point, "ci_low": float(low), "ci_high": float(high)}


def _check_against_definition(
    result: dict[str, Any],
    y: np.ndarray,
    probs: np.ndarray,
    classes: list[str],
    rows: np.ndarray,
    threshold: float | None,
    confidence: float,
) -> None:
    point = classification_metrics(y, probs, classes, threshold)
    values = _resampled_values(y, probs, classes, rows, threshold)
    for key in HEADLINE:
        assert result[key] == pytest.approx(_expected(point[key], values[(key,)], confidence)), key
    assert set(result["per_class"]) == set(classes)
    for name in classes:
        for key in PER_CLASS:
            want = _expected(point["per_class"][name][key], values[(name, key)], confidence)
            assert result["per_class"][name][key] == pytest.approx(want), (name, key)


@pytest.mark.parametrize(
    ("k", "threshold", "confidence", "ties"),
    [(2, None, 0.95, True), (2, 0.35, 0.8, False), (3, None, 0.9, True), (4, None, 0.95, False)],
)
def test_image_bootstrap_is_the_percentile_interval_of_resampled_metrics(
    monkeypatch: pytest.MonkeyPatch, k: int, threshold: float | None, confidence: float, ties: bool
) -> None:
    y, probs = _case(48, k, seed=10 + k, ties=ties)
    classes = [f"c{i}" for i in range(k)]
    drawn = _spy(monkeypatch)
    result = bootstrap_ci(
        y, probs, classes, n_resamples=80, seed=3, confidence=confidence, threshold=threshold
    )
    rows = np.concatenate(drawn)
    assert rows.shape == (80, y.size)
    # Stratified: every resample holds each class as often as the test set does.
    for multiplicity in rows:
        assert (
            np.bincount(y, weights=multiplicity, minlength=k).tolist() == np.bincount(y, minlength=k).tolist()
        )
    _check_against_definition(result, y, probs, classes, rows, threshold, confidence)
    assert (result["n_resamples"], result["seed"], result["confidence"]) == (80, 3, confidence)
    assert result["unit"] == "image" and result["method"] == "stratified percentile bootstrap"
    assert "n_groups" not in result


@pytest.mark.parametrize(("per_chunk", "sizes"), [(7, [7, 7, 7, 7, 2]), (1, [1] * 30)])
def test_resamples_in_several_chunks_are_all_used(
    monkeypatch: pytest.MonkeyPatch, per_chunk: int, sizes: list[int]
) -> None:
    # Memory bound: a chunk holds _CELLS_PER_CHUNK (resample, image) cells; all 30 resamples count, none twice.
    y, probs = _case(40, 3, seed=4)
    classes = ["a", "b", "c"]
    monkeypatch.setattr(bootstrap, "_CELLS_PER_CHUNK", per_chunk * y.size)
    drawn = _spy(monkeypatch)
    result = bootstrap_ci(y, probs, classes, n_resamples=30, confidence=0.9)
    assert [block.shape[0] for block in drawn] == sizes
    _check_against_definition(result, y, probs, classes, np.concatenate(drawn), None, 0.9)


def test_a_class_absent_from_the_test_set(monkeypatch: pytest.MonkeyPatch) -> None:
    # "c" has no test image: its sensitivity and the AUROC are undefined, balanced accuracy averages the
    # classes present, and F1 counts "c" as 0 (never predicted, never true) in every resample.
    y, probs = _case(40, 3, seed=12)
    y = np.where(y == 2, 0, y)
    probs[:, 2] = 0.0
    probs /= probs.sum(axis=1, keepdims=True)
    classes = ["a", "b", "c"]
    drawn = _spy(monkeypatch)
    result = bootstrap_ci(y, probs, classes, n_resamples=60)
    _check_against_definition(result, y, probs, classes, np.concatenate(drawn), None, 0.95)
    assert result["per_class"]["c"]["sensitivity"] == {"value": None, "ci_low": None, "ci_high": None}
    assert result["auroc"] == {"value": None, "ci_low": None, "ci_high": None}
    assert result["balanced_accuracy"]["ci_low"] is not None
    assert result["macro_f1"]["ci_high"] <= 2 / 3


def test_precision_of_a_class_predicted_once_in_a_resample(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two images reach the threshold, one positive and one negative: a resample that draws one of them once
    # has a precision of 1 or 0, one that draws neither has none.
    y = np.array([0] * 12 + [1] * 12)
    p1 = np.linspace(0.05, 0.6, 24)
    p1[[5, 17]] = [0.95, 0.9]
    probs = np.stack([1 - p1, p1], axis=1)
    drawn = _spy(monkeypatch)
    result = bootstrap_ci(y, probs, ["neg", "pos"], n_resamples=200, threshold=0.8)
    rows = np.concatenate(drawn)
    assert ((rows[:, 5] + rows[:, 17]) == 1).any() and ((rows[:, 5] + rows[:, 17]) == 0).any()
    _check_against_definition(result, y, probs, ["neg", "pos"], rows, 0.8, 0.95)
    assert result["per_class"]["pos"]["precision"]["value"] == 0.5


def test_cluster_bootstrap_resamples_groups_within_majority_strata(monkeypatch: pytest.MonkeyPatch) -> None:
    # 12 patients of 1-5 images; some hold images of two classes. A resample draws patients, within the
    # stratum of their majority class, as many as the stratum holds; an image counts as often as its patient.
    rng = np.random.default_rng(8)
    sizes = [3, 1, 4, 2, 5, 2, 3, 1, 4, 2, 3, 2]
    codes = np.repeat(np.arange(len(sizes)), sizes)
    majority = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2])
    y = majority[codes].copy()
    y[[1, 10, 23]] = [1, 0, 0]  # minority images inside patients 0, 4 and 8
    assert all(np.bincount(y[codes == g], minlength=3).argmax() == majority[g] for g in range(len(sizes)))
    logits = rng.normal(size=(y.size, 3))
    logits[np.arange(y.size), y] += 0.8
    probs = np.round(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), 1)
    classes = ["a", "b", "c"]
    drawn = _spy(monkeypatch)
    result = bootstrap_ci(y, probs, classes, n_resamples=120, seed=5, confidence=0.9, clusters=codes)
    groups = np.concatenate(drawn)
    assert groups.shape == (120, len(sizes))
    for row in groups:
        assert np.bincount(majority, weights=row, minlength=3).tolist() == [4, 4, 4]
    _check_against_definition(result, y, probs, classes, groups[:, codes], None, 0.9)
    assert result["unit"] == "group" and result["n_groups"] == len(sizes)
    assert result["method"].startswith("cluster percentile bootstrap")


def test_cluster_bootstrap_with_every_group_in_one_stratum(monkeypatch: pytest.MonkeyPatch) -> None:
    # Six patients of four images, mostly "normal": one stratum holds them all, and every resample draws 6 of
    # the 6 patients with replacement. Only patients 0 and 3 hold a "lesion" image, so some resamples hold no
    # lesion at all: there the lesion's sensitivity, the AUROC, balanced accuracy and the normal class's
    # specificity are undefined and left out, not counted as 0.
    codes = np.repeat(np.arange(6), 4)
    y = np.zeros(24, dtype=np.int64)
    y[[1, 13, 14]] = 1
    rng = np.random.default_rng(1)
    p1 = np.clip(np.where(y == 1, 0.6, 0.35) + rng.normal(0, 0.15, y.size), 0.01, 0.99).round(2)
    probs = np.stack([1 - p1, p1], axis=1)
    drawn = _spy(monkeypatch)
    result = bootstrap_ci(y, probs, ["normal", "lesion"], n_resamples=60, clusters=codes)
    groups = np.concatenate(drawn)
    assert groups.shape == (60, 6) and (groups.sum(axis=1) == 6).all()
    lost = (groups[:, 0] + groups[:, 3]) == 0
    assert lost.any() and not lost.all()
    _check_against_definition(result, y, probs, ["normal", "lesion"], groups[:, codes], None, 0.95)
    assert result["n_groups"] == 6


def test_cluster_bootstrap_of_one_image_per_group_equals_the_image_bootstrap() -> None:
    y, probs = _case(50, 2, seed=6)
    classes = ["neg", "pos"]
    by_image = bootstrap_ci(y, probs, classes, n_resamples=60, seed=2)
    by_group = bootstrap_ci(y, probs, classes, n_resamples=60, seed=2, clusters=np.arange(50))
    for key in HEADLINE:
        assert by_group[key] == by_image[key]
    assert by_group["per_class"] == by_image["per_class"]
    assert by_group["n_groups"] == 50


def test_nothing_predicted_as_a_class_gives_precision_without_interval() -> None:
    # Threshold above every score: no image is called positive. Precision of "pos" is 0 on the full data
    # (zero_division=0) but undefined in every resample: no interval. Sensitivity is 0 with a 0-width interval.
    y, probs = _case(30, 2, seed=2, ties=False)
    result = bootstrap_ci(y, probs, ["neg", "pos"], n_resamples=40, threshold=1.5)
    pos = result["per_class"]["pos"]
    assert pos["precision"] == {"value": 0.0, "ci_low": None, "ci_high": None}
    assert pos["sensitivity"] == {"value": 0.0, "ci_low": 0.0, "ci_high": 0.0}
    assert result["per_class"]["neg"]["sensitivity"] == {"value": 1.0, "ci_low": 1.0, "ci_high": 1.0}


def test_defaults_are_a_thousand_resamples_seed_zero_and_95_percent() -> None:
    y, probs = _case(30, 3, seed=9)
    classes = ["a", "b", "c"]
    result = bootstrap_ci(y, probs, classes)
    assert BOOTSTRAP_SEED == 0
    assert (result["n_resamples"], result["seed"], result["confidence"]) == (1000, 0, 0.95)
    assert result == bootstrap_ci(y, probs, classes, n_resamples=1000, seed=0, confidence=0.95)
    # A whole-valued float is accepted as a count, and one resample is enough.
    assert bootstrap_ci(y, probs, classes, n_resamples=20.0)["n_resamples"] == 20
    one = bootstrap_ci(y, probs, classes, n_resamples=1)
    assert one["n_resamples"] == 1 and one["accuracy"]["ci_low"] == one["accuracy"]["ci_high"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_resamples": 2.5}, "n_resamples must be a positive integer, got 2.5"),
        ({"n_resamples": -3}, "n_resamples must be a positive integer"),
        ({"confidence": 0.0}, "confidence must lie strictly between 0 and 1, got 0.0"),
        ({"confidence": 1.0}, "confidence must lie strictly between 0 and 1"),
        (
            {"clusters": np.zeros(19, dtype=int)},
            r"clusters must have shape \(20,\) to match the scores, got \(19,\)",
        ),
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, Any], message: str) -> None:
    y, probs = _case(20, 2, seed=0)
    with pytest.raises(ValueError, match=message):
        bootstrap_ci(y, probs, ["a", "b"], **kwargs)


def test_draws_are_uniform_within_each_class() -> None:
    # Every image of a class is equally likely to be drawn: mean multiplicity 1, and none is never drawn.
    y = np.array([0] * 5 + [1] * 3 + [2] * 1)
    members = [np.flatnonzero(y == j) for j in range(3)]
    counts = bootstrap._draw_counts(np.random.default_rng(0), members, y.size, 4000)
    assert counts.shape == (4000, y.size) and counts.min() >= 0
    assert np.all(counts[:, 8] == 1)  # a class of one image
    assert counts.mean(axis=0) == pytest.approx(np.ones(y.size), abs=0.06)
    assert (counts[:, :8].min(axis=0) == 0).all() and (counts[:, :8].max(axis=0) >= 3).all()
