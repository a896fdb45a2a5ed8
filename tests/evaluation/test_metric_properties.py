"""Hypothesis properties of the metrics: bounds, symmetries and invariances that any correct implementation
has, whatever the data (``make test``: a few derandomized examples each; see ``fuzz.mutations.budget``)."""

from __future__ import annotations

import numpy as np
import pytest
from fuzz.mutations import budget
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from medclass.evaluation.bootstrap import bootstrap_ci
from medclass.evaluation.metrics import binary_auc, classification_metrics
from medclass.evaluation.thresholds import operating_characteristics

# Scores on a coarse grid so that ties are common.
SCORE = st.integers(0, 20).map(lambda i: i / 20)


@st.composite
def binary_sets(draw: st.DrawFn, min_size: int = 2, max_size: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """0/1 labels with both classes present, and scores in [0, 1]."""
    n = draw(st.integers(min_size, max_size))
    y = draw(arrays(np.int64, n, elements=st.integers(0, 1)))
    assume(0 < y.sum() < n)
    s = draw(arrays(np.float64, n, elements=SCORE))
    return y, s


@st.composite
def labelled_probs(
    draw: st.DrawFn, k: int | None = None, min_size: int = 1, max_size: int = 40, distinct: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Labels in 0..K-1 and rows of probabilities; ``distinct``: no two entries of a row are equal."""
    k = k if k is not None else draw(st.integers(2, 5))
    n = draw(st.integers(min_size, max_size))
    y = draw(arrays(np.int64, n, elements=st.integers(0, k - 1)))
    raw = draw(arrays(np.float64, (n, k), elements=st.integers(1, 1000).map(float)))
    if distinct:
        assume(all(len(set(row)) == k for row in raw.tolist()))
    return y, raw / raw.sum(axis=1, keepdims=True)


@budget(40)
@given(binary_sets())
def test_auroc_is_a_probability_and_flips_with_the_score_or_the_labels(data) -> None:
    y, s = data
    auc = binary_auc(y, s)
    assert 0.0 <= auc <= 1.0
    assert binary_auc(y, 1.0 - s) == pytest.approx(1.0 - auc)
    assert binary_auc(1 - y, s) == pytest.approx(1.0 - auc)
    # Only the order of the scores matters.
    assert binary_auc(y, s**3 + 2.0) == pytest.approx(auc)
    # Known answer by pairs: P(score_pos > score_neg) + 0.5 P(tie).
    pos, neg = s[y == 1][:, None], s[y == 0][None, :]
    assert auc == pytest.approx(np.mean((pos > neg) + 0.5 * (pos == neg)))


@budget(40)
@given(labelled_probs(), st.data())
def test_headline_metrics_are_bounded_and_agree_with_the_confusion_matrix(data, draw) -> None:
    y, p = data
    k = p.shape[1]
    classes = [f"c{j}" for j in range(k)]
    m = classification_metrics(y, p, classes)
    cm = np.asarray(m["confusion_matrix"])
    assert cm.sum() == y.size == m["n"]
    assert cm.sum(axis=1).tolist() == np.bincount(y, minlength=k).tolist()
    assert (
        m["accuracy"] == pytest.approx(np.mean(p.argmax(axis=1) == y)) == pytest.approx(np.trace(cm) / y.size)
    )
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "weighted_f1"):
        assert 0.0 <= m[key] <= 1.0, key
    if m["auroc"] is not None:
        assert 0.0 <= m["auroc"] <= 1.0
    for j, name in enumerate(classes):
        row = m["per_class"][name]
        assert row["support"] == int((y == j).sum())
        for key in ("precision", "recall", "f1", "sensitivity", "specificity", "auroc"):
            assert row[key] is None or 0.0 <= row[key] <= 1.0, (name, key)
        # Average precision is a float sum (sklearn): it may pass 1 in the last bit (1.0000000000000002).
        assert row["pr_auc"] is None or 0.0 <= row["pr_auc"] <= 1.0 + 1e-12, name
        # F1 is the harmonic mean of precision and recall (0 when both are 0).
        pr = row["precision"] + row["recall"]
        assert row["f1"] == pytest.approx(2 * row["precision"] * row["recall"] / pr if pr else 0.0)
    # Binary with a threshold: the same counts as flagging the positive column at the threshold.
    if k == 2:
        t = draw.draw(SCORE, label="threshold")
        at = classification_metrics(y, p, classes, threshold=t)
        flagged = p[:, 1] >= t
        assert at["confusion_matrix"][1][1] == int((flagged & (y == 1)).sum())
        assert at["confusion_matrix"][0][1] == int((flagged & (y == 0)).sum())


@budget(30)
@given(labelled_probs(distinct=True), st.randoms(use_true_random=False))
def test_relabelling_the_classes_permutes_the_per_class_figures(data, random) -> None:
    y, p = data
    k = p.shape[1]
    classes = [f"c{j}" for j in range(k)]
    order = list(range(k))
    random.shuffle(order)  # new column j holds old class order[j]
    new_index = np.argsort(order)  # old class -> new column
    before = classification_metrics(y, p, classes)
    after = classification_metrics(new_index[y], p[:, order], [classes[j] for j in order])
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "auroc"):
        assert after[key] == pytest.approx(before[key]), key
    for name in classes:
        assert after["per_class"][name] == pytest.approx(before["per_class"][name]), name
    cm = np.asarray(before["confusion_matrix"])
    assert np.asarray(after["confusion_matrix"]).tolist() == cm[np.ix_(order, order)].tolist()


@budget(40)
@given(binary_sets(min_size=2, max_size=30), st.lists(SCORE, min_size=2, max_size=6))
def test_raising_the_threshold_never_raises_sensitivity_nor_lowers_specificity(data, thresholds) -> None:
    y, s = data
    probs = np.stack([1 - s, s], axis=1)
    rows = [classification_metrics(y, probs, ["neg", "pos"], threshold=t) for t in sorted(thresholds)]
    sens = [r["per_class"]["pos"]["sensitivity"] for r in rows]
    spec = [r["per_class"]["pos"]["specificity"] for r in rows]
    assert sens == sorted(sens, reverse=True)
    assert spec == sorted(spec)


@budget(40)
@given(binary_sets())
def test_operating_characteristics_are_monotone_and_reproducible(data) -> None:
    y, s = data
    thresholds, sens, spec = operating_characteristics(y, s)
    assert np.all(np.diff(thresholds) > 0)
    assert np.all(np.diff(sens) <= 0) and np.all(np.diff(spec) >= 0)
    assert (sens[0], spec[0], sens[-1], spec[-1]) == (1.0, 0.0, 0.0, 1.0)
    # Each candidate, applied to the same scores, gives exactly the rates listed for it.
    for t, se, sp in zip(thresholds, sens, spec, strict=True):
        flagged = s >= t
        assert se == pytest.approx(flagged[y == 1].mean(), abs=1e-12)
        assert sp == pytest.approx((~flagged[y == 0]).mean(), abs=1e-12)


@budget(25)
@given(labelled_probs(k=None, min_size=6, max_size=40), st.integers(0, 2**16))
def test_bootstrap_intervals_are_ordered_and_hold_the_count_based_estimates(data, seed) -> None:
    # Image bootstrap, stratified by class. A count-based figure (accuracy, a class's sensitivity or
    # specificity) is a sum of per-class binomial counts whose mean is the observed (integer) count, so its
    # median is the observed count and the percentile interval holds the point estimate. Every interval is
    # ordered and inside [0, 1].
    y, p = data
    k = p.shape[1]
    classes = [f"c{j}" for j in range(k)]
    ci = bootstrap_ci(y, p, classes, n_resamples=200, seed=seed)
    blocks = {key: ci[key] for key in ("accuracy", "balanced_accuracy", "macro_f1", "auroc")}
    for name in classes:
        for key in ("sensitivity", "specificity", "precision"):
            blocks[(name, key)] = ci["per_class"][name][key]
    for key, block in blocks.items():
        if block["ci_low"] is not None:
            assert 0.0 <= block["ci_low"] <= block["ci_high"] <= 1.0, key
    contained = [blocks["accuracy"]] + [
        blocks[(name, key)] for name in classes for key in ("sensitivity", "specificity")
    ]
    for block in contained:
        if block["value"] is not None:
            assert block["ci_low"] - 1e-12 <= block["value"] <= block["ci_high"] + 1e-12
