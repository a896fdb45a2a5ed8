"""Multi-label metrics against scikit-learn, uncertain labels left out, bootstrap CIs over whole images, and the
per-label operating points chosen on val."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from medclass.evaluation.multilabel import choose_label_rules, multilabel_scores

LABELS = ["effusion", "nodule", "mass"]


@pytest.fixture(scope="module")
def scored() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    y = (rng.random((300, 3)) < [0.1, 0.35, 0.6]).astype(np.float64)
    probs = np.round(np.clip([0.15, 0.3, 0.45] * y + 0.7 * rng.random((300, 3)), 0, 1), 2)  # rounded: ties
    y[[4, 9, 11], 1] = np.nan  # uncertain under the ignore policy
    return y, probs


def test_point_figures_equal_scikit_learns_on_the_known_values(scored) -> None:
    y, probs = scored
    result = multilabel_scores(y, probs, LABELS, [0.5, 0.4, 0.6])
    assert result["task"] == "multilabel" and result["labels"] == LABELS
    aurocs, aps = [], []
    for j, name in enumerate(LABELS):
        known = ~np.isnan(y[:, j])
        block = result["per_label"][name]
        auroc = roc_auc_score(y[known, j], probs[known, j])
        ap = average_precision_score(y[known, j], probs[known, j])
        assert block["auroc"]["value"] == pytest.approx(auroc)
        assert block["average_precision"]["value"] == pytest.approx(ap)
        truth, decided = y[known, j] == 1, probs[known, j] >= block["threshold"]
        assert block["sensitivity"]["value"] == pytest.approx((truth & decided).sum() / truth.sum())
        assert block["specificity"]["value"] == pytest.approx((~truth & ~decided).sum() / (~truth).sum())
        assert block["n_known"] == known.sum()
        aurocs.append(auroc)
        aps.append(ap)
    assert result["macro_auroc"]["value"] == pytest.approx(np.mean(aurocs))
    assert result["map"]["value"] == pytest.approx(np.mean(aps))
    known = ~np.isnan(y)
    assert result["micro_auroc"]["value"] == pytest.approx(roc_auc_score(y[known], probs[known]))


def test_bootstrap_intervals_hold_the_value_and_repeat_with_the_seed(scored) -> None:
    y, probs = scored
    first = multilabel_scores(y, probs, LABELS, [0.5] * 3, bootstrap=300, seed=0)
    again = multilabel_scores(y, probs, LABELS, [0.5] * 3, bootstrap=300, seed=0)
    assert first == again and first["ci"]["unit"] == "image" and first["ci"]["n_resamples"] == 300
    for figure in [first["macro_auroc"], first["map"], *(b["auroc"] for b in first["per_label"].values())]:
        assert figure["ci_low"] < figure["value"] < figure["ci_high"]
    # The rarest label (30 positives) is the least certain: its interval is the widest.
    width = {n: b["auroc"]["ci_high"] - b["auroc"]["ci_low"] for n, b in first["per_label"].items()}
    assert max(width, key=width.get) == "effusion"


def test_a_cluster_bootstrap_resamples_whole_groups(scored) -> None:
    y, probs = scored
    # Each image three times in one group: as wide as the image bootstrap of the originals, not narrower.
    tripled = multilabel_scores(
        np.repeat(y, 3, 0), np.repeat(probs, 3, 0), LABELS, [0.5] * 3, 300, 0, np.repeat(np.arange(300), 3)
    )
    plain = multilabel_scores(y, probs, LABELS, [0.5] * 3, 300, 0)
    naive = multilabel_scores(np.repeat(y, 3, 0), np.repeat(probs, 3, 0), LABELS, [0.5] * 3, 300, 0)
    width = lambda r: r["macro_auroc"]["ci_high"] - r["macro_auroc"]["ci_low"]  # noqa: E731
    assert tripled["ci"]["unit"] == "group"
    assert width(tripled) == pytest.approx(width(plain), rel=0.25) and width(naive) < 0.75 * width(tripled)


def test_label_rules_are_chosen_per_label_and_reproduce_their_rates(scored) -> None:
    y, probs = scored
    rules = choose_label_rules(y, probs, LABELS, "sensitivity=0.95")
    assert list(rules) == LABELS
    for j, name in enumerate(LABELS):
        known = ~np.isnan(y[:, j])
        truth = y[known, j] == 1
        rule = rules[name]
        assert rule.rule == "sensitivity=0.95" and rule.n == known.sum() and rule.sensitivity >= 0.95
        assert rule.sensitivity == pytest.approx((probs[known, j][truth] >= rule.threshold).mean())
    assert len({rule.threshold for rule in rules.values()}) == 3  # one threshold per label


def test_a_label_without_positives_in_val_is_named() -> None:
    y = np.array([[1, 0], [0, 0], [1, 0]], dtype=float)
    with pytest.raises(ValueError, match="label 'nodule' has no positive image in val"):
        choose_label_rules(y, y, ["effusion", "nodule"], "youden")


def test_label_wise_calibration_is_each_labels_binary_ece() -> None:
    rng = np.random.default_rng(3)
    probs = rng.uniform(0.01, 0.99, (400, 2))  # no value on a bin edge
    # Label 0 calibrated (drawn at its probability), label 1 over-confident (always present when p > 0.5).
    y = np.stack([rng.random(400) < probs[:, 0], probs[:, 1] > 0.5], axis=1).astype(float)
    result = multilabel_scores(y, probs, ["calibrated", "overconfident"], [0.5, 0.5])
    for j, name in enumerate(["calibrated", "overconfident"]):
        truth, p = y[:, j] == 1, probs[:, j]
        confidence, correct = np.maximum(p, 1 - p), (p > 0.5) == truth
        bins = np.minimum((confidence * 15).astype(int), 14)  # 15 equal-width bins
        ece = sum(abs(correct[bins == b].sum() - confidence[bins == b].sum()) for b in range(15)) / len(p)
        assert result["per_label"][name]["ece"] == pytest.approx(ece)
    assert result["per_label"]["calibrated"]["ece"] < 0.1 < result["per_label"]["overconfident"]["ece"]
