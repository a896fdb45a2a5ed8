"""Operating points chosen on the validation split for reporting, and what a clinician reads first.

The model's decision rule (argmax, or the stored binary threshold of ``evaluation.operating_point``) is what
``predict`` applies. Beside it the report shows the metrics at an operating point chosen on val (Youden's J
unless a sensitivity/specificity target is configured): binary, one threshold on the positive class;
multi-class, one one-vs-rest threshold per class ("flag class k when its probability >= t_k"), each chosen on
val and applied unchanged to the test split.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from medclass.evaluation.thresholds import choose_threshold
from medclass.inference.decision import at_or_above

__all__ = ["DEFAULT_REPORT_RULE", "apply_class_thresholds", "choose_class_thresholds", "clinical_summary"]

# The operating point shown beside the decision rule when none is configured.
DEFAULT_REPORT_RULE = "youden"


def _rates(flag: np.ndarray, positive: np.ndarray) -> dict[str, Any]:
    tp = int(np.sum(flag & positive))
    fp = int(np.sum(flag & ~positive))
    fn = int(np.sum(~flag & positive))
    tn = int(np.sum(~flag & ~positive))

    def ratio(a: int, b: int) -> float | None:
        return a / b if b else None

    return {
        "sensitivity": ratio(tp, tp + fn),
        "specificity": ratio(tn, tn + fp),
        "ppv": ratio(tp, tp + fp),
        "npv": ratio(tn, tn + fn),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
    }


def choose_class_thresholds(
    y_val: ArrayLike, probs_val: ArrayLike, classes: Sequence[str], rule: str = DEFAULT_REPORT_RULE
) -> dict[str, Any]:
    """One-vs-rest threshold per class, chosen on validation probabilities with ``rule``.

    Returns:
        ``{"rule", "chosen_on": "val", "per_class": {name: {"threshold", "val_sensitivity",
        "val_specificity"}}}``; a class without val positives or negatives gets ``threshold: None``.
    """
    y = np.asarray(y_val, dtype=np.int64)
    p = np.asarray(probs_val, dtype=np.float64)
    per_class: dict[str, Any] = {}
    for k, name in enumerate(classes):
        positive = y == k
        entry: dict[str, Any] = {"threshold": None, "val_sensitivity": None, "val_specificity": None}
        if positive.any() and (~positive).any():
            t = float(choose_threshold(rule, positive.astype(int), p[:, k]))
            rates = _rates(at_or_above(p[:, k], t), positive)
            entry = {
                "threshold": t,
                "val_sensitivity": rates["sensitivity"],
                "val_specificity": rates["specificity"],
            }
        per_class[str(name)] = entry
    return {"rule": rule, "chosen_on": "val", "per_class": per_class}


def apply_class_thresholds(
    y_true: ArrayLike, probs: ArrayLike, classes: Sequence[str], points: dict[str, Any]
) -> dict[str, Any]:
    """Sensitivity, specificity, PPV, NPV and counts of each class flagged at its val threshold.

    Returns:
        ``points`` with ``sensitivity, specificity, ppv, npv, tp, fp, fn, tn`` added to every class that has a
        threshold (one-vs-rest on ``y_true``).
    """
    y = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(probs, dtype=np.float64)
    out = {"rule": points["rule"], "chosen_on": points["chosen_on"], "per_class": {}}
    for k, name in enumerate(classes):
        entry = dict(points["per_class"][str(name)])
        if entry["threshold"] is not None:
            entry.update(_rates(p[:, k] >= entry["threshold"], y == k))
        out["per_class"][str(name)] = entry
    return out


def _ci(metrics: dict[str, Any], name: str, key: str) -> dict[str, Any]:
    value = metrics["per_class"][name]["sensitivity" if key == "sensitivity" else key]
    interval = metrics.get("ci", {}).get("per_class", {}).get(name, {}).get(key)
    if interval is not None:
        return dict(interval)
    return {"value": value, "ci_low": None, "ci_high": None}


def clinical_summary(metrics: dict[str, Any], positive_class: str, rule: str) -> dict[str, Any]:
    """Sensitivity, specificity, PPV and NPV of ``positive_class`` (with CIs when ``metrics`` has ``ci``),
    the confusion counts and AUROC, from a binary metrics block of :func:`~medclass.evaluation.scoring.score`.

    Args:
        metrics: a binary metrics block (``classification_metrics`` keys, optionally ``ci``).
        positive_class: one of ``metrics["classes"]``.
        rule: the decision rule the block was computed at, in words (e.g. ``"argmax"``).
    """
    classes = list(metrics["classes"])
    pos = classes.index(positive_class)
    neg = 1 - pos
    cm = metrics["confusion_matrix"]
    auroc = metrics.get("ci", {}).get("auroc") or {"value": metrics["auroc"], "ci_low": None, "ci_high": None}
    return {
        "positive_class": positive_class,
        "negative_class": classes[neg],
        "rule": rule,
        "sensitivity": _ci(metrics, positive_class, "sensitivity"),
        "specificity": _ci(metrics, positive_class, "specificity"),
        # PPV is the precision of the positive class, NPV the precision of the negative one.
        "ppv": _ci(metrics, positive_class, "precision"),
        "npv": _ci(metrics, classes[neg], "precision"),
        "tp": cm[pos][pos],
        "fn": cm[pos][neg],
        "fp": cm[neg][pos],
        "tn": cm[neg][neg],
        "auroc": dict(auroc),
        "n": metrics["n"],
    }
