"""Hypothesis properties of the split assignment: fractions kept per class within rounding, no group in two
splits, every item placed once (``make test``: a few derandomized examples each)."""

from __future__ import annotations

import numpy as np
from fuzz.mutations import budget
from hypothesis import given
from hypothesis import strategies as st

from medclass.data.splits import _fractions_split, _kfold_split, stratified_assignment

LABELS = st.lists(st.sampled_from(["normal", "tumor", "cyst"]), min_size=1, max_size=60)
FRACTIONS = st.lists(st.integers(1, 20), min_size=1, max_size=5).map(lambda w: [x / sum(w) for x in w])


@st.composite
def grouped(draw: st.DrawFn) -> tuple[list[str], list[str | None]]:
    """Labels and patient ids: groups of 1-6 images, mostly of one class, some without an id."""
    labels: list[str] = []
    groups: list[str | None] = []
    for g in range(draw(st.integers(1, 20))):
        size = draw(st.integers(1, 6))
        main = draw(st.sampled_from(["normal", "tumor", "cyst"]))
        for _ in range(size):
            labels.append(main if draw(st.integers(0, 4)) else draw(st.sampled_from(["normal", "tumor"])))
            groups.append(draw(st.sampled_from([f"p{g}", f"p{g}", f"p{g}", None, ""])))
    return labels, groups


def _per_class_counts(labels: list[str], chosen: np.ndarray, bins: int) -> dict[str, np.ndarray]:
    arr = np.asarray(labels, dtype=object)
    return {c: np.bincount(chosen[arr == c], minlength=bins) for c in sorted(set(labels))}


@budget(60)
@given(LABELS, FRACTIONS, st.integers(0, 2**32 - 1))
def test_without_groups_each_class_is_divided_by_the_fractions_within_rounding(
    labels, fractions, seed
) -> None:
    chosen = stratified_assignment(labels, None, fractions, np.random.default_rng(seed))
    assert chosen.shape == (len(labels),) and set(chosen.tolist()) <= set(range(len(fractions)))
    cumulative = np.cumsum(fractions)
    for label, counts in _per_class_counts(labels, chosen, len(fractions)).items():
        n = labels.count(label)
        assert counts.sum() == n
        # Each bin within one image of its share, and the running total within half an image.
        assert np.all(np.abs(counts - n * np.asarray(fractions)) < 1 + 1e-9), (label, counts)
        assert np.all(np.abs(np.cumsum(counts) - n * cumulative) <= 0.5 + 1e-9), (label, counts)
    # Relative weights and shares give the same assignment.
    weights = [f * 7 for f in fractions]
    assert (stratified_assignment(labels, None, weights, np.random.default_rng(seed)) == chosen).all()


@budget(60)
@given(grouped(), FRACTIONS, st.integers(0, 2**32 - 1))
def test_no_group_is_cut_and_lone_items_fill_the_quotas(data, fractions, seed) -> None:
    labels, groups = data
    chosen = stratified_assignment(labels, groups, fractions, np.random.default_rng(seed))
    assert chosen.shape == (len(labels),) and set(chosen.tolist()) <= set(range(len(fractions)))
    for group in {g for g in groups if g}:
        members = [i for i, g in enumerate(groups) if g == group]
        assert len(set(chosen[members].tolist())) == 1, group
    # Items that share no id with another are placed like items without groups: when every id is unique,
    # every class meets its quota exactly.
    alone = [f"u{i}" for i in range(len(labels))]
    solo = stratified_assignment(labels, alone, fractions, np.random.default_rng(seed))
    cumulative = np.cumsum(fractions)
    for label, counts in _per_class_counts(labels, solo, len(fractions)).items():
        n = labels.count(label)
        assert np.all(np.abs(np.cumsum(counts) - n * cumulative) <= 0.5 + 1e-9), (label, counts)


@budget(60)
@given(
    grouped(),
    st.sampled_from([0.0, 0.1, 0.15, 0.3]),
    st.sampled_from([0.0, 0.1, 0.2]),
    st.integers(0, 2**32 - 1),
)
def test_train_val_test_split_keeps_fractions_and_groups(data, test_frac, val_frac, seed) -> None:
    labels, groups = data
    arrays = np.asarray(labels, dtype=object), np.asarray(groups, dtype=object)
    split = _fractions_split(*arrays, test_frac, val_frac, np.random.default_rng(seed))
    names = set(split.tolist())
    assert names <= {"train", "val", "test"}
    assert ("test" not in names or test_frac > 0) and ("val" not in names or val_frac > 0)
    for group in {g for g in groups if g}:
        assert len({split[i] for i, g in enumerate(groups) if g == group}) == 1, group
    if not any(groups.count(g) > 1 for g in groups if g):  # nothing binds: the fractions hold per class
        for label in set(labels):
            rows = [s for s, lab in zip(split.tolist(), labels, strict=True) if lab == label]
            for name, frac in (("test", test_frac), ("val", val_frac), ("train", 1 - test_frac - val_frac)):
                assert abs(rows.count(name) - len(rows) * frac) < 1 + 1e-9, (label, name)


@budget(40)
@given(grouped(), st.sampled_from([0.0, 0.2]), st.integers(2, 5), st.integers(0, 2**32 - 1))
def test_kfold_places_every_training_item_in_one_fold_and_keeps_groups(data, test_frac, folds, seed) -> None:
    labels, groups = data
    arrays = np.asarray(labels, dtype=object), np.asarray(groups, dtype=object)
    split, fold = _kfold_split(*arrays, test_frac, folds, np.random.default_rng(seed))
    assert len(fold) == len(labels)
    for s, f in zip(split.tolist(), fold, strict=True):
        assert (s == "test" and f is None) or (s == "train" and f in range(folds))
    if test_frac == 0:
        assert "test" not in split.tolist()
    for group in {g for g in groups if g}:
        members = [i for i, g in enumerate(groups) if g == group]
        assert len({(split[i], fold[i]) for i in members}) == 1, group
