"""The site summaries, transfer verdicts, pooling and subgroups of ``validate`` on synthetic three-class outputs
(no model): the multi-class path (top-label calibration, no operating point, accuracy pooled only)."""

from __future__ import annotations

import numpy as np
import pytest

from medclass.assessment.external import (
    SiteScores,
    compare_with_reference,
    heterogeneity,
    summarise_site,
)
from medclass.assessment.subgroups import MIN_SUBGROUP_SIZE, subgroup_analysis
from medclass.inference.decision import Decision

CLASSES = ["glioma", "meningioma", "pituitary"]


def _site(name: str, n: int, accuracy: float, seed: int) -> SiteScores:
    """``n`` images, right with probability ``accuracy``, each with confidence 0.8 on its decision."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    right = rng.uniform(size=n) < accuracy
    predicted = np.where(right, y, (y + rng.integers(1, 3, n)) % 3)
    probs = np.full((n, 3), 0.1)
    probs[np.arange(n), predicted] = 0.8
    return SiteScores(name, name, [f"{name}/{i}.png" for i in range(n)], y, probs, predicted)


def test_a_multiclass_site_that_drops_breaks_and_one_that_does_not_transfers() -> None:
    decision = Decision()
    internal, like, shifted = (
        _site("internal", 300, 0.8, 0),
        _site("like", 300, 0.8, 1),
        _site("shifted", 300, 0.4, 2),
    )
    summaries = {s.name: summarise_site(s, CLASSES, decision, 200) for s in (internal, like, shifted)}
    assert summaries["internal"]["calibration"]["kind"] == "top label"
    assert "operating_point" not in summaries["internal"]
    assert (
        summaries["shifted"]["metrics"]["accuracy"]["ci_high"]
        < summaries["internal"]["metrics"]["accuracy"]["ci_low"]
    )

    broken = compare_with_reference(internal, shifted, summaries, CLASSES, decision)
    assert broken["verdict"] == "breaks"
    measures = {f["measure"]: f["verdict"] for f in broken["findings"]}
    assert measures["accuracy"] == "breaks" and "sensitivity" not in measures
    assert {f"sensitivity of {c}" for c in CLASSES} <= set(measures)
    # Confidence 0.8 at 40% accuracy: over-confident, a slope far below 1 and an ECE far above the internal one.
    assert measures["ECE"] == "breaks"
    like_accuracy = compare_with_reference(internal, like, summaries, CLASSES, decision)["findings"][0]
    assert like_accuracy["verdict"] == "transfers" and like_accuracy["ci_low"] < 0 < like_accuracy["ci_high"]

    pooled = heterogeneity([internal, like, shifted], CLASSES, decision)
    assert set(pooled) == {"sites", "method", "accuracy"}
    assert pooled["accuracy"]["i2"] > 0.9 and "substantial" in pooled["accuracy"]["text"]
    assert heterogeneity([internal], CLASSES, decision) is None


def test_subgroups_report_per_group_metrics_the_largest_gap_and_small_groups() -> None:
    internal, shifted = _site("internal", 200, 0.9, 3), _site("shifted", 200, 0.5, 4)
    values = {
        "site": [["internal"] * 200, ["shifted"] * 200],
        "sex": [["F", "M"] * 100, ["F", "M"] * 95 + [None] * 10],
        "scanner": [["A"] * 195 + ["B"] * 5, ["A"] * 200],
        "view": [[None] * 200, [None] * 200],
    }
    result = subgroup_analysis([internal, shifted], values, CLASSES, None, None, 100)
    site = result["columns"]["site"]
    assert (
        site["groups"]["internal"]["n"] == 200
        and site["groups"]["internal"]["accuracy"]["ci_low"] is not None
    )
    gap = site["largest_gap"]
    assert (gap["best"], gap["worst"]) == ("internal", "shifted") and gap["excludes_zero"]
    assert gap["difference"] == pytest.approx(internal.correct.mean() - shifted.correct.mean())
    assert result["columns"]["sex"]["missing"] == 10
    scanner = result["columns"]["scanner"]
    assert scanner["groups"]["B"]["too_small"] and not scanner["groups"]["A"]["too_small"]
    assert scanner["largest_gap"] is None or "too small" in scanner["largest_gap"]["text"]
    assert any(f"fewer than {MIN_SUBGROUP_SIZE}" in w for w in scanner["warnings"])
    view = result["columns"]["view"]
    assert (
        view["groups"] == {}
        and view["missing"] == 400
        and "no scored image has a value" in view["warnings"][0]
    )


def test_the_calibration_slope_breaks_only_when_the_site_adds_the_miscalibration() -> None:
    from medclass.assessment.external import _slope_finding

    assert _slope_finding("b", 1.1, 1.0)["verdict"] == "transfers"
    assert _slope_finding("b", 0.5, 1.0)["verdict"] == "breaks"
    assert "over-confident" in _slope_finding("b", 0.5, 1.0)["text"]
    already = _slope_finding("b", 1.8, 1.6)  # under-confident internally too: said, not a transfer failure
    assert already["verdict"] == "transfers" and "mis-calibrated already" in already["text"]
    assert _slope_finding("b", 3.0, 1.6)["verdict"] == "breaks"
    assert _slope_finding("b", -0.1, 0.5)["verdict"] == "breaks"
    assert _slope_finding("b", None, 1.0) is None
