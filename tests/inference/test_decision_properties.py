"""Hypothesis properties of the decision rule: probabilities are distributions whose argmax the temperature
keeps, and raising a threshold never adds positives (``make test``: a few derandomized examples each)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from fuzz.mutations import budget
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from medclass.inference.decision import decide, probabilities

LOGIT = st.floats(-30, 30, allow_nan=False, width=64)
# A coarse grid: probabilities equal to a threshold are common.
PROB = st.integers(0, 20).map(lambda i: i / 20)
TEMPERATURE = st.floats(0.05, 20.0, allow_nan=False)


def _logits(k_min: int = 2, k_max: int = 6):
    return st.tuples(st.integers(1, 12), st.integers(k_min, k_max)).flatmap(
        lambda shape: arrays(np.float64, shape, elements=LOGIT)
    )


@budget(40)
@given(_logits(), TEMPERATURE, st.floats(-50, 50, allow_nan=False))
def test_probabilities_are_distributions_that_keep_the_ranking(logits, temperature, shift) -> None:
    p = probabilities(logits, temperature)
    assert p.shape == logits.shape
    assert np.all((p >= 0) & (p <= 1)) and np.allclose(p.sum(axis=1), 1.0)
    # Softmax at a temperature: only differences between a row's logits matter, and the order is kept.
    assert np.allclose(probabilities(logits + shift, temperature), p, atol=1e-12)
    for row, probs in zip(logits, p, strict=True):
        order = np.argsort(row, kind="stable")
        assert np.all(np.diff(probs[order]) >= -1e-15)
    # Relabelling the columns permutes the probabilities.
    perm = np.arange(logits.shape[1])[::-1]
    assert np.allclose(probabilities(logits[:, perm], temperature), p[:, perm], atol=1e-12)


@budget(30)
@given(_logits(), st.floats(0.2, 5.0), st.floats(1.5, 4.0))
def test_a_higher_temperature_never_sharpens(logits, temperature, factor) -> None:
    # Entropy grows with the temperature (the distribution moves towards uniform); the top class stays the same.
    def entropy(p: np.ndarray) -> np.ndarray:
        return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=1)

    cool, warm = probabilities(logits, temperature), probabilities(logits, temperature * factor)
    assert np.all(entropy(warm) >= entropy(cool) - 1e-9)
    assert np.all(warm.max(axis=1) <= cool.max(axis=1) + 1e-12)


@budget(30)
@given(arrays(np.float64, st.integers(1, 12), elements=LOGIT), TEMPERATURE)
def test_one_logit_is_the_sigmoid_of_the_positive_class(logit, temperature) -> None:
    p = probabilities(logit[:, None], temperature)
    assert p.shape == (logit.size, 2)
    assert np.allclose(p[:, 1], 1.0 / (1.0 + np.exp(-logit / temperature)), atol=1e-12)
    assert np.allclose(p.sum(axis=1), 1.0)
    # The same as a two-logit model whose logits differ by the one logit.
    assert np.allclose(
        probabilities(np.stack([np.zeros_like(logit), logit], axis=1), temperature), p, atol=1e-12
    )


@st.composite
def binary_probs(draw: st.DrawFn) -> np.ndarray:
    p1 = draw(arrays(np.float64, st.integers(1, 30), elements=PROB))
    return np.stack([1.0 - p1, p1], axis=1)


@budget(50)
@given(binary_probs(), st.lists(PROB, min_size=2, max_size=6))
def test_raising_the_threshold_never_adds_positives(probs, thresholds) -> None:
    flagged = [decide(probs, t) == 1 for t in sorted(thresholds)]
    for lower, higher in itertools.pairwise(flagged):
        assert not np.any(higher & ~lower)  # every positive at the higher threshold is positive at the lower
    for t, positive in zip(sorted(thresholds), flagged, strict=True):
        assert positive.tolist() == (probs[:, 1] >= t).tolist()  # a probability equal to t is positive


@budget(40)
@given(
    st.tuples(st.integers(1, 12), st.integers(2, 6)).flatmap(
        lambda shape: arrays(np.float64, shape, elements=PROB)
    )
)
def test_without_a_threshold_the_decision_is_the_first_largest_probability(probs) -> None:
    decided = decide(probs)
    assert decided.dtype == np.int64
    for row, chosen in zip(probs, decided, strict=True):
        assert row[chosen] == row.max() and np.all(row[:chosen] < row.max())
    if probs.shape[1] == 2:
        # Two probabilities summing to 1: the threshold 0.5 agrees with the argmax except on an exact tie,
        # which it calls positive.
        binary = np.stack([1.0 - probs[:, 1], probs[:, 1]], axis=1)
        at_half, argmax = decide(binary, 0.5), decide(binary)
        tie = binary[:, 1] == binary[:, 0]
        assert at_half[~tie].tolist() == argmax[~tie].tolist()
        assert np.all(at_half[tie] == 1) and np.all(argmax[tie] == 0)
    else:
        with pytest.raises(ValueError, match="binary"):
            decide(probs, 0.5)
