"""ECE and reliability curve against a hand-computed example; temperature scaling recovers a known T."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax

from medclass.evaluation.calibration import (
    expected_calibration_error,
    fit_temperature,
    reliability_curve,
)

# Five binary images, 5 bins with edges 0, .2, .4, .6, .8, 1 (each bin is (lo, hi]):
#   probs          y   confidence  correct  bin
#   [.90, .10]     0   .90         yes      (.8, 1]
#   [.85, .15]     1   .85         no       (.8, 1]
#   [.30, .70]     1   .70         yes      (.6, .8]
#   [.35, .65]     0   .65         no       (.6, .8]
#   [.45, .55]     1   .55         yes      (.4, .6]
# bin (.8, 1]:  accuracy 1/2, mean confidence .875 -> |.5 - .875| = .375, weight 2/5 -> .150
# bin (.6, .8]: accuracy 1/2, mean confidence .675 -> |.5 - .675| = .175, weight 2/5 -> .070
# bin (.4, .6]: accuracy 1,   mean confidence .55  -> |1 - .55|   = .450, weight 1/5 -> .090
# ECE = .150 + .070 + .090 = .310
HAND_Y = np.array([0, 1, 1, 0, 1])
HAND_P = np.array([[0.90, 0.10], [0.85, 0.15], [0.30, 0.70], [0.35, 0.65], [0.45, 0.55]])


def test_ece_hand_computed() -> None:
    assert expected_calibration_error(HAND_Y, HAND_P, n_bins=5) == pytest.approx(0.31)


def test_reliability_curve_hand_computed() -> None:
    curve = reliability_curve(HAND_Y, HAND_P, n_bins=5)
    assert curve["bin_edges"] == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert curve["counts"] == [0, 0, 1, 2, 2]
    assert curve["confidence"][:2] == [None, None]
    assert curve["confidence"][2:] == pytest.approx([0.55, 0.675, 0.875])
    assert curve["accuracy"][2:] == pytest.approx([1.0, 0.5, 0.5])


def test_confidence_on_an_edge_goes_to_the_bin_it_closes() -> None:
    # Confidence exactly .8 belongs to (.6, .8], not (.8, 1].
    curve = reliability_curve([0], [[0.8, 0.2]], n_bins=5)
    assert curve["counts"] == [0, 0, 0, 1, 0]


def test_calibrated_predictions_have_small_ece() -> None:
    # Correct with probability equal to the confidence -> ECE close to 0 (sampling noise only).
    rng = np.random.default_rng(0)
    n = 20000
    conf = rng.uniform(0.5, 1.0, n)
    y = (rng.random(n) >= conf).astype(int)  # predicted class 0 is right with probability conf
    probs = np.column_stack([conf, 1 - conf])
    assert expected_calibration_error(y, probs) < 0.02
    assert expected_calibration_error(np.ones(n, int), probs) > 0.7  # always wrong, confident


def test_ece_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=r"\(5,\)"):
        expected_calibration_error(HAND_Y, HAND_P[:, 0])
    with pytest.raises(ValueError, match=r"probabilities"):
        expected_calibration_error(HAND_Y, HAND_P * 3)
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error(HAND_Y, HAND_P, n_bins=0)


@pytest.mark.parametrize("true_temperature", [0.5, 2.0])
def test_fit_temperature_recovers_known_temperature(true_temperature: float) -> None:
    # Labels are drawn from softmax(z / T0); the maximum-likelihood T is then a consistent estimate of T0.
    rng = np.random.default_rng(1)
    n, k = 20000, 4
    logits = rng.normal(scale=3.0, size=(n, k))
    probs = softmax(logits / true_temperature, axis=1)
    y = (rng.random((n, 1)) > np.cumsum(probs, axis=1)).sum(axis=1)
    fitted = fit_temperature(logits, y)
    assert fitted == pytest.approx(true_temperature, rel=0.05)


def test_fit_temperature_names_a_bad_shape() -> None:
    logits = np.array([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0]])
    with pytest.raises(ValueError, match=r"\(3,\)"):
        fit_temperature(logits, [0, 1, 2])


def _nll(logits: np.ndarray, y: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``softmax(logits / T)``, computed here independently of the module."""
    log_probs = np.log(softmax(logits / temperature, axis=1))
    return float(-log_probs[np.arange(len(y)), y].mean())


def test_temperature_scaling_lowers_nll_and_ece_of_an_over_confident_model() -> None:
    # A model whose logits are 3x too large: right on 75% of cases but almost always ~100% sure.
    rng = np.random.default_rng(4)
    n, k = 3000, 3
    calibrated = rng.normal(scale=1.5, size=(n, k))
    y = (rng.random((n, 1)) > np.cumsum(softmax(calibrated, axis=1), axis=1)).sum(axis=1)
    logits = 3.0 * calibrated
    val, test = slice(0, n // 2), slice(n // 2, n)
    temperature = fit_temperature(logits[val], y[val])
    assert temperature == pytest.approx(3.0, rel=0.15)
    # The fitted T is the minimum of the val NLL: lower than at T = 1 and than a little either side of it.
    at_one, fitted = _nll(logits[val], y[val]), _nll(logits[val], y[val], temperature)
    assert fitted < 0.8 * at_one
    assert fitted <= min(_nll(logits[val], y[val], temperature * f) for f in (0.9, 1.1))
    # It carries over to images it was not fitted on, for NLL and ECE alike; accuracy is unchanged.
    assert _nll(logits[test], y[test], temperature) < 0.8 * _nll(logits[test], y[test])
    before = expected_calibration_error(y[test], softmax(logits[test], axis=1))
    after = expected_calibration_error(y[test], softmax(logits[test] / temperature, axis=1))
    assert after < 0.5 * before
    assert (softmax(logits / temperature, axis=1).argmax(1) == logits.argmax(1)).all()


def test_an_under_confident_model_gets_a_temperature_below_one() -> None:
    rng = np.random.default_rng(5)
    calibrated = rng.normal(scale=2.0, size=(2000, 2))
    y = (rng.random((2000, 1)) > np.cumsum(softmax(calibrated, axis=1), axis=1)).sum(axis=1)
    logits = calibrated / 2.5
    temperature = fit_temperature(logits, y)
    assert temperature < 0.6
    assert _nll(logits, y, temperature) < _nll(logits, y)


def test_one_bin_and_probabilities_at_zero_and_one_are_accepted() -> None:
    one_hot = np.eye(2)[[0, 1, 1]]  # confidence exactly 1, other entries exactly 0
    assert expected_calibration_error([0, 1, 0], one_hot, n_bins=1) == pytest.approx(1 / 3)
    assert reliability_curve([0, 1, 0], one_hot, n_bins=1)["counts"] == [3]
    with pytest.raises(ValueError, match="probabilities"):
        expected_calibration_error([0], [[1.2, -0.2]])


def test_a_confidence_below_the_first_edge_is_in_the_first_bin() -> None:
    # Twenty classes, near-uniform: the top-label confidence 0.06 is below 1/15, the first bin's upper edge.
    probs = np.full((4, 20), 0.94 / 19)
    probs[:, 0] = 0.06
    curve = reliability_curve(np.zeros(4, int), probs)
    assert curve["counts"][0] == 4 and sum(curve["counts"]) == 4
    assert curve["accuracy"][0] == 1.0 and curve["confidence"][0] == pytest.approx(0.06)
