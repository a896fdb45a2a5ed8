"""The pure functions of ``medclass validate`` against known answers: the decision curve by hand, the
DerSimonian-Laird pooled estimate against the published BCG-vaccine example, the calibration slope on calibrated
and over-confident synthetic data, the bootstrap difference and the sample-size rule."""

from __future__ import annotations

import numpy as np
import pytest

from medclass.evaluation.calibration import calibration_slope_intercept
from medclass.evaluation.decision_curve import decision_curve, net_benefit, treat_all_net_benefit
from medclass.evaluation.gaps import rate_difference
from medclass.evaluation.heterogeneity import dersimonian_laird, pool_proportions
from medclass.evaluation.sample_size import precision_of

# BCG vaccine trials (Colditz et al., JAMA 271, 1994): treated TB+, treated TB-, control TB+, control TB-.
BCG = np.array(
    [
        [4, 119, 11, 128],
        [6, 300, 29, 274],
        [3, 228, 11, 209],
        [62, 13536, 248, 12619],
        [33, 5036, 47, 5761],
        [180, 1361, 372, 1079],
        [8, 2537, 10, 619],
        [505, 87886, 499, 87892],
        [29, 7470, 45, 7232],
        [17, 1699, 65, 1600],
        [186, 50448, 141, 27197],
        [5, 2493, 3, 2338],
        [27, 16886, 29, 17825],
    ],
    dtype=float,
)


def test_net_benefit_by_hand() -> None:
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    s = np.array([0.9, 0.7, 0.2, 0.8, 0.3, 0.1, 0.1, 0.1, 0.05, 0.05])
    # pt = 0.25: treated = 0.9, 0.7, 0.8, 0.3 -> TP 2, FP 2 -> 2/10 - 2/10 * (0.25/0.75) = 0.2 - 0.0667
    # pt = 0.75: treated = 0.9, 0.8 -> TP 1, FP 1 -> 0.1 - 0.1 * 3 = -0.2
    assert net_benefit(y, s, [0.25, 0.75]) == pytest.approx([0.2 - 0.2 / 3, -0.2])
    # Treat all, prevalence 0.3: 0.3 - 0.7 * (0.25 / 0.75)
    assert treat_all_net_benefit(0.3, [0.25]) == pytest.approx([0.3 - 0.7 / 3])
    curve = decision_curve(y, s, operating_threshold=0.5)
    assert (
        len(curve["thresholds"]) == 99 and curve["thresholds"][0] == 0.01 and curve["thresholds"][-1] == 0.99
    )
    assert curve["treat_none"] == [0.0] * 99
    # pt = 0.5: treated 0.9, 0.7, 0.8 -> TP 2, FP 1 -> 0.2 - 0.1 = 0.1; treat all 0.3 - 0.7 = -0.4
    assert curve["operating_point"]["model"] == pytest.approx(0.1)
    assert curve["operating_point"]["treat_all"] == pytest.approx(-0.4)
    assert curve["operating_point"]["useful"] is True


def test_a_perfect_model_has_net_benefit_equal_to_prevalence() -> None:
    y = np.array([1] * 20 + [0] * 80)
    curve = decision_curve(y, y * 0.99 + 0.005)  # positives 0.995, negatives 0.005: right at every threshold
    assert curve["model"] == pytest.approx([0.2] * 99)
    assert curve["useful_thresholds"] == [0.01, 0.99]
    assert curve["treat_all"][0] < 0.2 and curve["treat_all"][-1] < 0


def test_dersimonian_laird_reproduces_the_published_bcg_example() -> None:
    """metafor (Viechtbauer 2010), ``rma(yi, vi, data = dat.bcg, measure = "RR", method = "DL")``: estimate
    -0.7141, 95% CI -1.0644 to -0.3638, tau^2 0.3088, I^2 92.12%, Q(12) 152.2330."""
    tpos, tneg, cpos, cneg = BCG.T
    log_rr = np.log((tpos / (tpos + tneg)) / (cpos / (cpos + cneg)))
    variance = 1 / tpos - 1 / (tpos + tneg) + 1 / cpos - 1 / (cpos + cneg)
    pooled = dersimonian_laird(log_rr, variance)
    assert pooled["estimate"] == pytest.approx(-0.7141, abs=1e-4)
    assert (pooled["ci_low"], pooled["ci_high"]) == pytest.approx((-1.0644, -0.3638), abs=1e-4)
    assert pooled["tau2"] == pytest.approx(0.3088, abs=1e-4)
    assert pooled["i2"] == pytest.approx(0.9212, abs=1e-4)
    assert pooled["q"] == pytest.approx(152.2330, abs=1e-3)
    assert sum(pooled["weights"]) == pytest.approx(1.0)


def test_dersimonian_laird_by_hand_without_heterogeneity() -> None:
    # Equal estimates: Q = 0, tau^2 = 0, I^2 = 0, the inverse-variance mean with se sqrt(1 / (1/1 + 1/4)).
    pooled = dersimonian_laird([0.5, 0.5], [1.0, 4.0])
    assert pooled["estimate"] == pytest.approx(0.5)
    assert pooled["tau2"] == 0.0 and pooled["i2"] == 0.0
    assert pooled["se"] == pytest.approx(np.sqrt(1 / 1.25))
    with pytest.raises(ValueError, match="at least 2"):
        dersimonian_laird([0.5], [1.0])


def test_pooled_proportions_flag_a_site_that_differs() -> None:
    same = pool_proportions([90, 88, 91], [100, 100, 100])
    apart = pool_proportions([90, 88, 50], [100, 100, 100])
    assert same["i2"] < 0.25 < 0.75 < apart["i2"]
    assert apart["ci_low"] < apart["estimate"] < apart["ci_high"]
    assert 0.85 < same["estimate"] < 0.92
    assert pool_proportions([100, 100], [100, 100])["estimate"] < 1.0  # continuity correction: finite


def test_calibration_slope_is_one_when_calibrated_and_below_one_when_over_confident() -> None:
    rng = np.random.default_rng(1)
    true_logit = rng.normal(0.0, 1.5, 20_000)
    y = (rng.uniform(size=true_logit.size) < 1 / (1 + np.exp(-true_logit))).astype(int)

    def probs(lp: np.ndarray) -> np.ndarray:
        p = 1 / (1 + np.exp(-lp))
        return np.c_[1 - p, p]

    calibrated = calibration_slope_intercept(y, probs(true_logit), positive_index=1)
    assert calibrated["slope"] == pytest.approx(1.0, abs=0.05)
    assert calibrated["intercept"] == pytest.approx(0.0, abs=0.05)
    over = calibration_slope_intercept(y, probs(3 * true_logit), positive_index=1)
    assert over["slope"] == pytest.approx(1 / 3, abs=0.03)
    too_high = calibration_slope_intercept(y, probs(true_logit + 1.0), positive_index=1)
    assert too_high["intercept"] == pytest.approx(-1.0, abs=0.1)
    three = np.c_[probs(3 * true_logit) * 0.9, np.full(y.size, 0.1)]
    assert calibration_slope_intercept(y, three)["kind"] == "top label"
    assert calibration_slope_intercept([1, 1], [[0.2, 0.8], [0.3, 0.7]], 1)["slope"] is None


def test_rate_difference_and_halving_rule() -> None:
    same = rate_difference([1] * 80 + [0] * 20, [1] * 79 + [0] * 21)
    assert not same["excludes_zero"] and same["ci_low"] < 0 < same["ci_high"]
    drop = rate_difference([1] * 90 + [0] * 10, [1] * 50 + [0] * 50)
    assert drop["difference"] == pytest.approx(-0.4) and drop["excludes_zero"] and drop["ci_high"] < 0
    size = precision_of({"value": 0.8, "ci_low": 0.7, "ci_high": 0.9}, 64)
    assert size["ci_width"] == pytest.approx(0.2) and size["n_to_halve"] == 256 and size["more_needed"] == 192
    assert precision_of({"value": None, "ci_low": None, "ci_high": None}, 10) is None
    # 10 of 10 right: the bootstrap CI is [1, 1]; the exact lower bound is 0.025 ** (1/10) = 0.692.
    perfect = precision_of({"value": 1.0, "ci_low": 1.0, "ci_high": 1.0}, 10)
    assert perfect["exact_ci"] == pytest.approx([0.025 ** (1 / 10), 1.0])
