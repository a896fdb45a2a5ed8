"""score: the metrics block of a metrics JSON, assembled from the pure pieces it promises to use."""

from __future__ import annotations

import numpy as np
import pytest

from medclass.evaluation.bootstrap import bootstrap_ci
from medclass.evaluation.calibration import expected_calibration_error
from medclass.evaluation.groups import aggregate_by_group, group_codes
from medclass.evaluation.metrics import classification_metrics
from medclass.evaluation.operating_points import apply_class_thresholds, clinical_summary
from medclass.evaluation.scoring import metrics_with_ci, score
from medclass.inference.decision import ECE_BINS

CLASSES = ["normal", "tumor"]


def _binary(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Scores of 60 images of 20 patients (3 slices each), and the patient of each image."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(20) % 2, 3)
    p1 = np.clip(0.3 + 0.35 * y + rng.normal(0, 0.2, n), 0.01, 0.99)
    patients = [f"p{i // 3}" for i in range(n)]
    return y, np.stack([1 - p1, p1], axis=1), patients


def test_binary_score_with_threshold_groups_positive_class_and_cis() -> None:
    y, probs, patients = _binary()
    result = score(y, probs, CLASSES, 0.4, bootstrap=40, seed=3, groups=patients, positive_class="tumor",
                   group_aggregate="max")  # fmt: skip
    plain = classification_metrics(y, probs, CLASSES, threshold=0.4)
    assert {k: result[k] for k in plain} == plain
    codes = group_codes(patients)
    # Image-level CIs resample the patients (cluster bootstrap) with the given seed and threshold.
    assert result["ci"] == bootstrap_ci(
        y, probs, CLASSES, n_resamples=40, seed=3, threshold=0.4, clusters=codes
    )
    assert result["ci"]["unit"] == "group"
    assert result["ece"] == pytest.approx(expected_calibration_error(y, probs, ECE_BINS))
    # Both decision rules of a thresholded binary model.
    assert (
        result["at_threshold"]["accuracy"] == plain["accuracy"]
        and result["at_threshold"]["ci"] == result["ci"]
    )
    assert result["at_0.5"] == metrics_with_ci(y, probs, CLASSES, 0.5, 40, 3, codes)
    assert result["at_0.5"]["accuracy"] != plain["accuracy"]
    # The clinical block of the declared positive class, at the rule in words.
    assert result["positive_class"] == "tumor"
    clinical = result["clinical"]
    assert clinical["rule"] == "threshold 0.4 on P(tumor)"
    assert clinical == clinical_summary(result, "tumor", "threshold 0.4 on P(tumor)")
    assert clinical["sensitivity"]["value"] == plain["per_class"]["tumor"]["sensitivity"]
    # Patient level: the max-aggregated patients, their own (plain) bootstrap, the same rule.
    y_group, p_group = aggregate_by_group(y, probs, codes, "max")
    by_group = result["by_group"]
    assert by_group["aggregate"] == "max" and by_group["n"] == 20
    assert (
        by_group["confusion_matrix"]
        == classification_metrics(y_group, p_group, CLASSES, 0.4)["confusion_matrix"]
    )
    assert by_group["ci"] == bootstrap_ci(y_group, p_group, CLASSES, n_resamples=40, seed=3, threshold=0.4)
    assert by_group["ci"]["unit"] == "image"  # the patients are the units here
    assert by_group["clinical"] == clinical_summary(by_group, "tumor", "threshold 0.4 on P(tumor)")
    assert by_group["ece"] == pytest.approx(expected_calibration_error(y_group, p_group, ECE_BINS))
    # The seed is the bootstrap's.
    again = score(y, probs, CLASSES, 0.4, bootstrap=40, seed=4, groups=patients)
    assert again["ci"] != result["ci"]


def test_argmax_score_without_groups_or_bootstrap() -> None:
    y, probs, _ = _binary()
    result = score(y, probs, CLASSES, positive_class="normal")
    assert "ci" not in result and "by_group" not in result
    assert "at_0.5" not in result and "at_threshold" not in result  # argmax: one rule only
    assert result["clinical"]["rule"] == "argmax" and result["clinical"]["positive_class"] == "normal"
    assert result["accuracy"] == classification_metrics(y, probs, CLASSES)["accuracy"]
    assert "clinical" not in score(y, probs, CLASSES)
    assert "clinical" not in score(np.arange(3), np.eye(3), ["a", "b", "c"], positive_class="a")


def test_operating_points_blocks() -> None:
    y, probs, patients = _binary()
    points = {"rule": "youden", "chosen_on": "val", "positive_class": "tumor", "threshold": 0.45}
    result = score(y, probs, CLASSES, None, 30, 2, groups=patients, operating_points=points)
    block = result["operating_points"]
    assert {k: block[k] for k in points} == points
    assert block["metrics"] == metrics_with_ci(y, probs, CLASSES, 0.45, 30, 2, group_codes(patients))
    assert block["clinical"]["positive_class"] == "tumor"
    assert block["clinical"]["rule"] == "youden on val (P(tumor) >= 0.45)"
    # Without a declared positive class the points' own is used.
    other = score(y, probs, CLASSES, None, 0, operating_points={**points, "positive_class": "normal"})
    assert other["operating_points"]["clinical"]["positive_class"] == "normal"
    # Multi-class: the per-class thresholds are applied as they are.
    y3 = np.arange(30) % 3
    p3 = np.full((30, 3), 0.2) + 0.6 * np.eye(3)[y3]
    per_class = {"rule": "youden", "chosen_on": "val", "per_class": {c: {"threshold": 0.5} for c in "abc"}}
    three = score(y3, p3, ["a", "b", "c"], operating_points=per_class)
    assert three["operating_points"] == apply_class_thresholds(y3, p3, ["a", "b", "c"], per_class)
