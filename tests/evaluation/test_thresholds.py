"""Operating points on constructed scores with known answers; rule parsing."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_curve

from medclass.evaluation.thresholds import (
    choose_threshold,
    default_positive_class,
    operating_characteristics,
    parse_operating_point,
    resolve_positive_class,
    threshold_for_sensitivity,
    threshold_for_specificity,
    youden_threshold,
)

# Negatives .1 .2 .3 .5 .55, positives .45 .6 .7 .8 .9. Cutting between .55 and .6: sensitivity 4/5, specificity
# 5/5, J = .8; below .45: 5/5 and 3/5, J = .6; between .6 and .7: 3/5 and 5/5, J = .6. J is maximal only between
# .55 and .6, and the threshold is placed at their midpoint, .575, never on a score.
NEG = [0.1, 0.2, 0.3, 0.5, 0.55]
POS = [0.45, 0.6, 0.7, 0.8, 0.9]
Y = np.array([0] * 5 + [1] * 5)
S = np.array(NEG + POS)


def test_youden_known_cut() -> None:
    assert youden_threshold(Y, S) == pytest.approx(0.575)
    fpr, tpr, thr = roc_curve(Y, S)
    best = thr[np.argmax(tpr - fpr)]  # scikit-learn's cut is the score itself (.6): the same decisions
    assert np.array_equal(youden_threshold(Y, S) <= S, best <= S)
    order = np.random.default_rng(0).permutation(10)
    assert youden_threshold(Y[order], S[order]) == pytest.approx(0.575)  # order does not matter


def test_thresholds_never_lie_on_a_score() -> None:
    # A threshold on a score lets the 7th digit of another runtime flip that image's decision.
    rng = np.random.default_rng(5)
    y, s = rng.integers(0, 2, 200), rng.uniform(0, 1, 200)
    for rule in ("youden", "sensitivity=0.9", "specificity=0.8", "sensitivity=1", "specificity=1"):
        t = choose_threshold(rule, y, s)
        gap = np.abs(s - t).min()
        assert gap > 0
        neighbours = np.sort(s)
        below, above = neighbours[neighbours < t].max(initial=-np.inf), neighbours[neighbours > t].min()
        if np.isfinite(below):
            assert t == pytest.approx((below + above) / 2)  # the midpoint of the two scores it separates


def test_sensitivity_target_on_twenty_positives() -> None:
    # 20 positives: sensitivity >= .95 needs 19 of them at or above the threshold, so the largest such
    # threshold lies just below the second-lowest positive score (midway to the next lower score).
    rng = np.random.default_rng(3)
    pos = rng.permutation(np.linspace(0.30, 0.98, 20))
    neg = rng.uniform(0.0, 0.6, 30)
    y = np.r_[np.ones(20, int), np.zeros(30, int)]
    s = np.r_[pos, neg]
    t = threshold_for_sensitivity(y, s, 0.95)
    second = np.sort(pos)[1]
    assert t == pytest.approx((second + s[s < second].max()) / 2)
    assert np.mean(s[y == 1] >= t) == 0.95
    assert pos.min() > threshold_for_sensitivity(y, s, 1.0) > s[s < pos.min()].max()
    assert pos.max() > threshold_for_sensitivity(y, s, 0.01) > s[s < pos.max()].max()


def test_specificity_target() -> None:
    # 10 negatives .05, .10, ... .50; specificity >= .9 needs 9 negatives strictly below t, i.e. t > .45;
    # the smallest cut above .45 lies between .45 and the positive at .47.
    neg = np.linspace(0.05, 0.5, 10)
    pos = np.array([0.3, 0.47, 0.8, 0.9])
    y = np.r_[np.zeros(10, int), np.ones(4, int)]
    s = np.r_[neg, pos]
    assert threshold_for_specificity(y, s, 0.9) == pytest.approx(0.46)
    assert threshold_for_specificity(y, s, 1.0) == pytest.approx(0.65)
    # When the top score is a negative, specificity 1 needs the threshold just above every score.
    t = threshold_for_specificity([1, 0], [0.2, 0.9], 1.0)
    assert t > 0.9 and t == np.nextafter(0.9, 1.0)


def test_operating_characteristics() -> None:
    thresholds, sens, spec = operating_characteristics(Y, S)
    assert thresholds[0] == np.nextafter(0.1, 0) and sens[0] == 1.0 and spec[0] == 0.0
    assert thresholds[1] == pytest.approx(0.15) and sens[1] == 1.0 and spec[1] == 0.2
    assert sens[-1] == 0.0 and spec[-1] == 1.0 and thresholds[-1] > 0.9
    assert np.all(np.diff(sens) <= 0) and np.all(np.diff(spec) >= 0)


def test_choose_threshold_dispatches() -> None:
    assert choose_threshold("youden", Y, S) == pytest.approx(0.575)
    assert choose_threshold("sensitivity=1.0", Y, S) == pytest.approx(0.375)
    assert choose_threshold("specificity=1", Y, S) == pytest.approx(0.575)
    with pytest.raises(ValueError, match="youden"):
        choose_threshold("", Y, S)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, None),
        ("  ", None),
        ("youden", ("youden", None)),
        ("Youden", ("youden", None)),
        ("sensitivity=0.95", ("sensitivity", 0.95)),
        ("specificity = .9", ("specificity", 0.9)),
        ("sensitivity=1", ("sensitivity", 1.0)),
        ("argmax", None),
        (" ArgMax ", None),
    ],
)
def test_parse_operating_point(text: str | None, expected: tuple | None) -> None:
    assert parse_operating_point(text) == expected


@pytest.mark.parametrize(
    "text",
    ["sens=0.9", "sensitivity=", "sensitivity=1.5", "specificity=0", "argmax=1", "youden=0.5", "ppv=0.9"],
)
def test_parse_operating_point_errors_list_allowed_forms(text: str) -> None:
    with pytest.raises(ValueError, match="allowed forms: 'youden', 'sensitivity="):
        parse_operating_point(text)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="both positives and negatives"):
        youden_threshold([1, 1, 1], [0.1, 0.5, 0.9])
    with pytest.raises(ValueError, match=r"\(3,\) and \(2,\)"):
        youden_threshold([0, 1, 1], [0.1, 0.5])
    with pytest.raises(ValueError, match="0/1"):
        youden_threshold([0, 2], [0.1, 0.5])
    with pytest.raises(ValueError, match="target"):
        threshold_for_sensitivity(Y, S, 0.0)


@pytest.mark.parametrize("target", [0.0, -0.5, 1.0001, 2.0])
def test_targets_outside_zero_one_are_refused(target: float) -> None:
    for choose in (threshold_for_sensitivity, threshold_for_specificity):
        with pytest.raises(ValueError, match=r"target must lie in \(0, 1\]"):
            choose(Y, S, target)


@pytest.mark.parametrize(
    ("classes", "counts", "expected"),
    [
        (["no_tumor", "tumor"], None, "tumor"),  # "no" marks the other class as the negative one
        (["Tumor-Positive", "tumor negative"], None, "Tumor-Positive"),
        (["yes", "no"], None, "yes"),
        (["Normal", "Pneumonia"], None, "Pneumonia"),
        (["tumor", "pneumonia"], [90, 10], "pneumonia"),  # both named: the minority class
        (["a", "b"], [10, 90], "a"),
        (["a", "b"], [50, 50], "b"),  # no minority: the second class
        (["a", "b"], [1, 2, 3], "b"),  # counts of another task are not used
        (["a", "b"], None, "b"),
    ],
)
def test_default_positive_class(classes: list[str], counts: list[int] | None, expected: str) -> None:
    assert default_positive_class(classes, counts) == expected


def test_resolve_positive_class() -> None:
    assert resolve_positive_class(["a", "b"], "a") == "a"
    assert resolve_positive_class(["a", "b"], None, [1, 9]) == "a"  # the default rule, counts included
    assert resolve_positive_class(["no_tumor", "tumor"]) == "tumor"
    assert resolve_positive_class(["a", "b", "c"]) is None
    with pytest.raises(ValueError, match=r"positive class 'x' is not one of the classes \['a', 'b'\]"):
        resolve_positive_class(["a", "b"], "x")
    with pytest.raises(ValueError, match="binary tasks only"):
        resolve_positive_class(["a", "b", "c"], "a")
