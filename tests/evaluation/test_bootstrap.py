"""Stratified bootstrap intervals: a known normal-approximation answer, degenerate and reproducible cases."""

from __future__ import annotations

import time

import numpy as np
import pytest

from medclass.evaluation.bootstrap import _AucPlan, _confusion_matrices, _draw_counts, bootstrap_ci
from medclass.evaluation.metrics import classification_metrics


def _case(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 1.5
    return y, np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def _intervals(result: dict) -> list[dict]:
    found = [result[key] for key in ("accuracy", "balanced_accuracy", "macro_f1", "auroc")]
    for row in result["per_class"].values():
        found += [row["sensitivity"], row["specificity"]]
    return found


def test_accuracy_interval_matches_normal_approximation() -> None:
    # N images, each classified correctly with probability p independently of its class. Stratification keeps
    # class counts fixed, but with the same p in both classes the variance of accuracy is still p(1-p)/N, so
    # the percentile interval should be close to the Wald interval p_hat +- 1.96 sqrt(p_hat(1 - p_hat) / N).
    n, p = 4000, 0.8
    rng = np.random.default_rng(42)
    y = np.repeat([0, 1], n // 2)
    correct = rng.random(n) < p
    pred = np.where(correct, y, 1 - y)
    probs = np.where(pred[:, None] == np.arange(2), 0.9, 0.1)
    result = bootstrap_ci(y, probs, ["neg", "pos"], n_resamples=2000, seed=0)
    acc = result["accuracy"]
    p_hat = correct.mean()
    half = 1.96 * np.sqrt(p_hat * (1 - p_hat) / n)  # about 0.0124
    assert acc["value"] == pytest.approx(p_hat)
    # Tolerance: 0.0015 is ~12% of the half-width; the Monte-Carlo error of a 2.5% quantile with 2000
    # resamples is ~0.0004.
    assert acc["ci_low"] == pytest.approx(p_hat - half, abs=0.0015)
    assert acc["ci_high"] == pytest.approx(p_hat + half, abs=0.0015)


def test_perfect_classifier_gives_degenerate_interval() -> None:
    y = np.array([0, 1, 2, 0, 1, 2, 2])
    probs = np.eye(3)[y] * 0.8 + 0.2 / 3
    result = bootstrap_ci(y, probs, ["a", "b", "c"], n_resamples=200)
    for interval in _intervals(result):
        assert (interval["value"], interval["ci_low"], interval["ci_high"]) == (1.0, 1.0, 1.0)


def test_seeded_results_are_reproducible() -> None:
    y, probs = _case(300, 3, seed=1)
    first = bootstrap_ci(y, probs, ["a", "b", "c"], n_resamples=300, seed=7)
    assert bootstrap_ci(y, probs, ["a", "b", "c"], n_resamples=300, seed=7) == first
    assert bootstrap_ci(y, probs, ["a", "b", "c"], n_resamples=300, seed=8) != first


@pytest.mark.parametrize(("k", "threshold"), [(2, None), (2, 0.3), (4, None)])
def test_point_estimate_is_full_data_metric_and_inside_interval(k: int, threshold: float | None) -> None:
    y, probs = _case(400, k, seed=k)
    classes = [f"c{i}" for i in range(k)]
    result = bootstrap_ci(y, probs, classes, n_resamples=500, threshold=threshold, confidence=0.9)
    point = classification_metrics(y, probs, classes, threshold)
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "auroc"):
        assert result[key]["value"] == pytest.approx(point[key])
    for name in classes:
        for key in ("sensitivity", "specificity"):
            assert result["per_class"][name][key]["value"] == pytest.approx(point["per_class"][name][key])
    for interval in _intervals(result):
        assert interval["ci_low"] <= interval["value"] <= interval["ci_high"]
        assert interval["ci_low"] < interval["ci_high"]
    assert result["n_resamples"] == 500 and result["confidence"] == 0.9


@pytest.mark.parametrize("k", [2, 4])
def test_vectorised_resamples_equal_direct_metrics(k: int) -> None:
    # The multiplicity-weighted confusion matrices and AUCs must equal the metrics of the expanded resample.
    y, probs = _case(60, k, seed=3)
    probs = np.round(probs, 1)  # ties in the scores
    classes = [f"c{i}" for i in range(k)]
    counts = _draw_counts(np.random.default_rng(0), [np.flatnonzero(y == j) for j in range(k)], y.size, 4)
    cms = _confusion_matrices(counts, y, probs.argmax(axis=1), k)
    columns = [1] if k == 2 else list(range(k))
    aucs = np.mean([_AucPlan(y == j, probs[:, j]).auc(counts) for j in columns], axis=0)
    for row, cm, auc in zip(counts, cms, aucs, strict=True):
        idx = np.repeat(np.arange(y.size), row)
        direct = classification_metrics(y[idx], probs[idx], classes)
        assert np.bincount(y[idx], minlength=k).tolist() == np.bincount(y, minlength=k).tolist()  # stratified
        assert cm.tolist() == direct["confusion_matrix"]
        assert auc == pytest.approx(direct["auroc"])


def test_missing_class_auroc_is_none() -> None:
    y = np.array([0, 1, 0, 1, 0, 1])
    probs = np.full((6, 3), 1 / 3)
    result = bootstrap_ci(y, probs, ["a", "b", "absent"], n_resamples=50)
    assert result["auroc"] == {"value": None, "ci_low": None, "ci_high": None}
    assert result["per_class"]["absent"]["sensitivity"]["value"] is None
    assert result["accuracy"]["value"] is not None


def test_bad_arguments() -> None:
    y, probs = _case(20, 2, seed=0)
    with pytest.raises(ValueError, match=r"\(19,\)"):
        bootstrap_ci(y[:19], probs, ["a", "b"])
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_ci(y, probs, ["a", "b"], n_resamples=0)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci(y, probs, ["a", "b"], confidence=95)


def test_thousand_resamples_of_thousand_images_are_fast() -> None:
    y, probs = _case(1000, 4, seed=5)
    start = time.perf_counter()
    bootstrap_ci(y, probs, list("abcd"), n_resamples=1000)
    # Typically ~0.2 s; the loose bound only catches an accidental per-resample Python loop over sklearn.
    assert time.perf_counter() - start < 10.0
