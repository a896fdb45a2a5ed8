"""The accuracy-vs-referral curve (pure functions): the most uncertain cases are referred first."""

from __future__ import annotations

import numpy as np
import pytest

from medclass.evaluation.uncertainty import accuracy_at_referral, referral_curve, referral_point


def test_referral_curve_refers_the_most_uncertain_first() -> None:
    correct = np.array([True, False, True, True, False])
    uncertainty = np.array([0.1, 0.9, 0.2, 0.3, 0.8])
    curve = referral_curve(correct, uncertainty)
    assert list(curve.columns) == [
        "n_referred",
        "fraction_referred",
        "n_kept",
        "accuracy",
        "uncertainty_cutoff",
    ]
    assert curve["n_referred"].tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(curve["fraction_referred"], [0, 0.2, 0.4, 0.6, 0.8])
    assert curve["n_kept"].tolist() == [5, 4, 3, 2, 1]
    np.testing.assert_allclose(curve["accuracy"], [3 / 5, 3 / 4, 1.0, 1.0, 1.0])
    # The cutoff is the uncertainty of the last referred case (none referred: NaN).
    assert np.isnan(curve["uncertainty_cutoff"].iat[0])
    np.testing.assert_allclose(curve["uncertainty_cutoff"].iloc[1:], [0.9, 0.8, 0.3, 0.2])
    assert referral_point(curve, 0.4) == {
        "fraction": 0.4,
        "n_referred": 2,
        "n_kept": 3,
        "accuracy": 1.0,
        "uncertainty_cutoff": 0.8,
    }


def test_referral_curve_matches_a_brute_force_count() -> None:
    rng = np.random.default_rng(1)
    correct = rng.random(40) < 0.7
    uncertainty = rng.random(40)
    curve = referral_curve(correct, uncertainty)
    for k in range(40):
        kept = np.argsort(-uncertainty)[k:]
        assert curve["accuracy"].iloc[k] == pytest.approx(correct[kept].mean())


def test_ties_are_referred_in_input_order() -> None:
    # Three cases equally uncertain: the first of them goes first, so the wrong one (index 0) leaves first.
    curve = referral_curve(np.array([False, True, True, True]), np.array([0.5, 0.5, 0.5, 0.1]))
    np.testing.assert_allclose(curve["accuracy"], [3 / 4, 1.0, 1.0, 1.0])
    curve = referral_curve(np.array([True, False, True, True]), np.array([0.5, 0.5, 0.5, 0.1]))
    np.testing.assert_allclose(curve["accuracy"], [3 / 4, 2 / 3, 1.0, 1.0])


def test_referral_point_rounds_half_up_and_keeps_one_case() -> None:
    curve = referral_curve(np.array([True, False, True, True]), np.array([0.4, 0.9, 0.3, 0.2]))
    assert referral_point(curve, 0.0) == {
        "fraction": 0.0, "n_referred": 0, "n_kept": 4, "accuracy": 0.75, "uncertainty_cutoff": None,
    }  # fmt: skip
    assert referral_point(curve, 0.125)["n_referred"] == 1  # 0.5 case rounds up
    assert referral_point(curve, 0.12)["n_referred"] == 0
    assert referral_point(curve, 0.375)["n_referred"] == 2  # 1.5 rounds up
    assert referral_point(curve, 0.99)["n_referred"] == 3  # never all: one case is kept
    assert accuracy_at_referral(curve, 0.25) == 1.0
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="must be in"):
            referral_point(curve, bad)


@pytest.mark.parametrize(
    ("correct", "uncertainty"),
    [([], []), ([True, False], [0.1]), ([[True]], [[0.1]])],
)
def test_bad_shapes_are_named(correct: list, uncertainty: list) -> None:
    with pytest.raises(ValueError, match="equal-length, non-empty 1-D"):
        referral_curve(np.array(correct, dtype=bool), np.array(uncertainty))


def test_label_referral_keeps_the_images_the_model_is_sure_of() -> None:
    from sklearn.metrics import average_precision_score, roc_auc_score

    from medclass.evaluation.uncertainty import label_referral_curve

    # Two labels; images 1 and 4 are mis-ranked on both, and they are the most uncertain ones.
    y = np.array(
        [[1, 0], [0, 1], [1, 1], [0, 0], [1, 0], [0, 1], [1, 1], [0, 0], [1, 0], [0, 1]], dtype=float
    )
    probs = np.where(y == 1, 0.8, 0.2)
    probs[[1, 4]] = 1 - probs[[1, 4]]
    uncertainty = np.array([0.1, 0.9, 0.2, 0.3, 0.8, 0.1, 0.2, 0.3, 0.1, 0.2])
    curve = label_referral_curve(y, probs, ["a", "b"], uncertainty, [0.0, 0.1, 0.2])
    assert curve["n_referred"].tolist() == [0, 1, 2] and curve["n_kept"].tolist() == [10, 9, 8]
    assert np.isnan(curve["uncertainty_cutoff"].iat[0])
    np.testing.assert_allclose(curve["uncertainty_cutoff"].iloc[1:], [0.9, 0.8])
    for row in curve.itertuples():
        kept = np.argsort(-uncertainty, kind="stable")[row.n_referred :]
        auroc = np.mean([roc_auc_score(y[kept, j], probs[kept, j]) for j in range(2)])
        ap = np.mean([average_precision_score(y[kept, j], probs[kept, j]) for j in range(2)])
        assert row.macro_auroc == pytest.approx(auroc) and row.map == pytest.approx(ap)
    assert curve["macro_auroc"].iat[0] < curve["macro_auroc"].iat[1] < curve["macro_auroc"].iat[2] == 1.0
    with pytest.raises(ValueError, match="referral fraction 1"):
        label_referral_curve(y, probs, ["a", "b"], uncertainty, [1.0])
