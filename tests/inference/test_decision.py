"""The one decision rule: probabilities (temperature, softmax, one-logit sigmoid) and decide (threshold/argmax)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, softmax

from medclass.inference.decision import decide, probabilities


def test_multiclass_probabilities_are_the_softmax_at_the_temperature() -> None:
    logits = np.array([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0]])
    np.testing.assert_allclose(probabilities(logits), softmax(logits, axis=1))
    soft = probabilities(logits, 3.0)
    np.testing.assert_allclose(soft, softmax(logits / 3.0, axis=1))
    assert (soft.argmax(axis=1) == logits.argmax(axis=1)).all()  # a temperature never changes the argmax
    assert soft.max() < probabilities(logits).max()  # T > 1 softens
    big = probabilities(np.array([[1000.0, 0.0]]))  # numerically stable
    assert np.isfinite(big).all() and big[0, 0] == pytest.approx(1.0)


def test_one_logit_model_gives_two_columns_with_the_positive_class_second() -> None:
    logits = np.array([[0.0], [2.0], [-3.0]])
    probs = probabilities(logits, temperature=2.0)
    assert probs.shape == (3, 2)
    np.testing.assert_allclose(probs[:, 1], expit(logits[:, 0] / 2.0))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert decide(probs).tolist() == [0, 1, 0]  # a tie at p = 0.5 goes to the lower index


def test_bad_logits_and_temperatures_are_refused() -> None:
    for bad in (0.0, -1.0, np.inf, np.nan):
        with pytest.raises(ValueError, match="temperature"):
            probabilities(np.zeros((1, 2)), bad)
    with pytest.raises(ValueError, match=r"\(3,\)"):
        probabilities(np.zeros(3))


def test_decide_uses_the_threshold_for_binary_and_the_argmax_otherwise() -> None:
    probs = np.array([[0.7, 0.3], [0.4, 0.6], [0.75, 0.25]])
    assert decide(probs).tolist() == [0, 1, 0]
    assert decide(probs, threshold=0.25).tolist() == [1, 1, 1]  # p >= t is positive, t itself included
    assert decide(probs, threshold=0.9).tolist() == [0, 0, 0]
    assert decide([[0.2, 0.5, 0.3], [0.1, 0.1, 0.8]]).tolist() == [1, 2]
    with pytest.raises(ValueError, match="binary problems only"):
        decide([[0.2, 0.5, 0.3]], threshold=0.5)
    with pytest.raises(ValueError, match="finite"):
        decide(probs, threshold=float("nan"))


def test_rows_of_very_different_scale_stay_finite() -> None:
    # Each row is shifted by its own maximum: a row of huge logits does not underflow the others.
    logits = np.array([[1000.0, 999.0], [0.0, -1.0], [-800.0, -801.0]])
    probs = probabilities(logits)
    np.testing.assert_allclose(probs, softmax(np.array([[1.0, 0.0]] * 3), axis=1))
    assert probabilities(np.array([[1, 3]], dtype=np.int64)).dtype == np.float64
