"""The metrics block of a metrics JSON: the plain metrics at the decision rule, bootstrap CIs, ECE, for a
binary model with a threshold the metrics at 0.5 and at the threshold, and, when the images' groups (patients)
are known, the same metrics per group under ``by_group`` with image-level CIs from a cluster bootstrap."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from medclass.evaluation.bootstrap import BOOTSTRAP_SEED, bootstrap_ci
from medclass.evaluation.calibration import expected_calibration_error
from medclass.evaluation.decision_fit import fit_decision
from medclass.evaluation.groups import GroupAggregate, aggregate_by_group, group_codes
from medclass.evaluation.metrics import classification_metrics
from medclass.evaluation.operating_points import (
    DEFAULT_REPORT_RULE,
    apply_class_thresholds,
    choose_class_thresholds,
    clinical_summary,
)
from medclass.inference.decision import ECE_BINS, Decision, probabilities


def metrics_with_ci(
    y_true: np.ndarray,
    probs: np.ndarray,
    classes: list[str],
    threshold: float | None = None,
    bootstrap: int = 0,
    seed: int = BOOTSTRAP_SEED,
    clusters: np.ndarray | None = None,
    positive_index: int = 1,
) -> dict[str, Any]:
    """:func:`classification_metrics` plus bootstrap 95% CIs under ``ci`` when ``bootstrap > 0`` (resampling
    the groups of ``clusters`` when given)."""
    result = classification_metrics(y_true, probs, classes, threshold, positive_index)
    if bootstrap > 0:
        result["ci"] = bootstrap_ci(
            y_true,
            probs,
            classes,
            n_resamples=bootstrap,
            seed=seed,
            threshold=threshold,
            clusters=clusters,
            positive_index=positive_index,
        )
    return result


def score(
    y_true: np.ndarray,
    probs: np.ndarray,
    classes: list[str],
    threshold: float | None = None,
    bootstrap: int = 0,
    seed: int = BOOTSTRAP_SEED,
    groups: Sequence[object] | None = None,
    group_aggregate: GroupAggregate = "mean",
    positive_class: str | None = None,
    operating_points: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Metrics of ``probs`` against ``y_true`` at the decision rule, with CIs, ECE and both thresholds.

    Args:
        y_true: true class indices ``(N,)``.
        probs: probabilities ``(N, K)`` (after any temperature).
        classes: class names.
        threshold: binary decision threshold on the probability of ``positive_class`` (None: argmax).
        bootstrap: resamples for the 95% CIs (0: none).
        seed: bootstrap seed (every command reports its CIs with ``BOOTSTRAP_SEED``; recorded as ``ci.seed``).
        groups: group (patient) id per image; empty ids are groups of one image. None: groups unknown.
        group_aggregate: how the probabilities of a group's images make the group's (``mean`` or ``max``).
        positive_class: binary: the declared positive class (default ``classes[1]``, also for the threshold's
            column); adds ``positive_class`` and ``clinical``
            (sensitivity, specificity, PPV, NPV with CIs, the confusion counts, AUROC at the decision rule).
        operating_points: from :func:`val_operating_points`; adds ``operating_points`` (binary: the metrics
            and ``clinical`` block at the val threshold; multi-class: per-class one-vs-rest rates).

    Returns:
        The plain metrics at the decision rule, ``ci`` (when ``bootstrap > 0``), ``ece`` (15 bins), and for a
        binary model with a threshold ``at_0.5`` and ``at_threshold`` blocks of the same form. With
        ``groups``: the image-level CIs come from a cluster bootstrap (``ci.unit == "group"``), and
        ``by_group`` holds the metrics of the aggregated groups (with their ``ci``, ``ece``, ``aggregate``).
    """
    codes = None if groups is None else group_codes(groups)
    column = list(classes).index(positive_class) if positive_class in classes else 1
    result = _score_block(y_true, probs, classes, (threshold, column), bootstrap, seed, codes)
    if positive_class is not None and len(classes) == 2:
        result["positive_class"] = positive_class
        rule = "argmax" if threshold is None else f"threshold {threshold:.4g} on P({positive_class})"
        result["clinical"] = clinical_summary(result, positive_class, rule)
    if operating_points is not None:
        result["operating_points"] = _at_operating_points(
            y_true, probs, classes, operating_points, bootstrap, seed, codes, column
        )
    if codes is not None:
        y_group, p_group = aggregate_by_group(y_true, probs, codes, group_aggregate)
        # The groups are the independent units here, so the plain (stratified) bootstrap resamples them.
        result["by_group"] = _score_block(
            y_group, p_group, classes, (threshold, column), bootstrap, seed, None
        )
        result["by_group"]["aggregate"] = group_aggregate
        if "clinical" in result:
            rule = result["clinical"]["rule"]
            result["by_group"]["clinical"] = clinical_summary(result["by_group"], positive_class, rule)
    return result


def _score_block(
    y_true: np.ndarray,
    probs: np.ndarray,
    classes: list[str],
    rule: tuple[float | None, int],
    bootstrap: int,
    seed: int,
    clusters: np.ndarray | None,
) -> dict[str, Any]:
    """Metrics at ``rule`` (threshold, the column it applies to) with CIs and ECE; binary with a threshold, also
    at the threshold and at 0.5 on the same column."""
    threshold, column = rule
    result = metrics_with_ci(y_true, probs, classes, threshold, bootstrap, seed, clusters, column)
    if len(classes) == 2 and threshold is not None:
        # The plain keys already are the metrics at the threshold: copy them instead of bootstrapping again.
        result["at_threshold"] = copy.deepcopy(result)
        result["at_0.5"] = metrics_with_ci(y_true, probs, classes, 0.5, bootstrap, seed, clusters, column)
    result["ece"] = expected_calibration_error(y_true, probs, ECE_BINS)
    return result


def val_operating_points(
    logits_val: np.ndarray,
    y_val: np.ndarray,
    classes: list[str],
    decision: Decision,
    positive_class: str | None = None,
) -> dict[str, Any]:
    """The operating point(s) reported beside the decision rule, chosen on validation logits.

    Binary: the decision's own threshold when it has a rule, else a Youden threshold for ``positive_class``
    (``{"rule", "chosen_on", "positive_class", "threshold"}``). Multi-class: one-vs-rest Youden thresholds
    per class (:func:`~medclass.evaluation.operating_points.choose_class_thresholds`).
    """
    if len(classes) == 2:
        if decision.rule is None:
            decision = fit_decision(
                logits_val,
                y_val,
                classes,
                False,
                DEFAULT_REPORT_RULE,
                decision.temperature,
                "val",
                positive_class,
            )
        return {
            "rule": decision.rule,
            "chosen_on": decision.chosen_on,
            "positive_class": decision.positive_class,
            "threshold": decision.threshold,
        }
    probs_val = probabilities(logits_val, decision.temperature)
    return choose_class_thresholds(y_val, probs_val, classes, DEFAULT_REPORT_RULE)


def _at_operating_points(
    y_true: np.ndarray,
    probs: np.ndarray,
    classes: list[str],
    points: dict[str, Any],
    bootstrap: int,
    seed: int,
    codes: np.ndarray | None,
    column: int,
) -> dict[str, Any]:
    """The metrics at the val operating points (binary: ``points["threshold"]`` on the probability of
    ``points["positive_class"]``, else of column ``column``)."""
    if len(classes) != 2:
        return apply_class_thresholds(y_true, probs, classes, points)
    block = dict(points)
    if points.get("positive_class") in classes:
        column = list(classes).index(points["positive_class"])
    positive = classes[column]
    metrics = metrics_with_ci(y_true, probs, classes, points["threshold"], bootstrap, seed, codes, column)
    block["metrics"] = metrics
    rule = f"{points['rule']} on val (P({positive}) >= {points['threshold']:.3g})"
    block["clinical"] = clinical_summary(metrics, positive, rule)
    return block


def decision_blocks(decision: Decision) -> dict[str, Any]:
    """The ``calibration`` and ``operating_point`` blocks of a metrics JSON."""
    return {"calibration": decision.calibration(), "operating_point": decision.operating_point()}
