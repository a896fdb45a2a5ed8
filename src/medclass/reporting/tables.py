"""The rows of the report's tables, shared by the HTML report and summary.md (formatting stays in each)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

# (label, key in the metrics JSON) of the headline table, in the order shown.
HEADLINE = (
    ("Accuracy", "accuracy"),
    ("Balanced accuracy", "balanced_accuracy"),
    ("Macro F1", "macro_f1"),
    ("Weighted F1", "weighted_f1"),
    ("AUROC", "auroc"),
    ("ECE (15 bins)", "ece"),
)
# (label, key) of the per-class table; sensitivity and specificity carry bootstrap CIs.
PER_CLASS = (
    ("Sensitivity", "sensitivity"),
    ("Specificity", "specificity"),
    ("Precision", "precision"),
    ("F1", "f1"),
    ("PR-AUC (AP)", "pr_auc"),
    ("AUROC", "auroc"),
)


@dataclass(frozen=True)
class Estimate:
    """A metric with its optional 95% interval."""

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None

    def text(self, digits: int = 3) -> str:
        """``0.912 [0.881, 0.940]``, ``0.912`` without an interval, ``–`` when undefined."""
        if self.value is None:
            return "–"
        if self.ci_low is None or self.ci_high is None:
            return f"{self.value:.{digits}f}"
        return f"{self.value:.{digits}f} [{self.ci_low:.{digits}f}, {self.ci_high:.{digits}f}]"


def _estimate(value: Any, ci: dict[str, Any] | None) -> Estimate:
    ci = ci or {}
    return Estimate(
        None if value is None else float(value),
        None if ci.get("ci_low") is None else float(ci["ci_low"]),
        None if ci.get("ci_high") is None else float(ci["ci_high"]),
    )


def headline_rows(metrics: dict[str, Any]) -> list[tuple[str, Estimate]]:
    """``(label, estimate)`` of the headline metrics; AUROC is macro one-vs-rest for more than two classes."""
    ci = metrics.get("ci") or {}
    binary = len(metrics.get("classes", [])) == 2
    rows = []
    for label, key in HEADLINE:
        if key not in metrics:
            continue
        if key == "auroc" and not binary:
            label = "AUROC (macro, one-vs-rest)"
        rows.append((label, _estimate(metrics[key], ci.get(key))))
    return rows


def per_class_rows(metrics: dict[str, Any]) -> list[tuple[str, int, dict[str, Estimate]]]:
    """``(class, support, {metric key: estimate})`` per class; sensitivity/specificity with CIs."""
    ci_per_class = (metrics.get("ci") or {}).get("per_class") or {}
    rows = []
    for name, values in metrics.get("per_class", {}).items():
        ci = ci_per_class.get(name, {})
        cells = {key: _estimate(values.get(key), ci.get(key)) for _, key in PER_CLASS}
        rows.append((name, int(values.get("support", 0)), cells))
    return rows


def threshold_rows(metrics: dict[str, Any]) -> list[tuple[str, Estimate, Estimate]] | None:
    """Binary metrics at 0.5 and at the chosen threshold: ``(label, at 0.5, at threshold)`` or None."""
    low, chosen = metrics.get("at_0.5"), metrics.get("at_threshold")
    if not low or not chosen:
        return None
    positive = metrics.get("positive_class") or metrics["classes"][1]

    def pick(block: dict[str, Any], key: str) -> Estimate:
        ci = block.get("ci") or {}
        if key in ("sensitivity", "specificity"):
            return _estimate(
                block["per_class"][positive][key], ci.get("per_class", {}).get(positive, {}).get(key)
            )
        return _estimate(block.get(key), ci.get(key))

    labels = (
        ("Accuracy", "accuracy"),
        ("Balanced accuracy", "balanced_accuracy"),
        ("Macro F1", "macro_f1"),
        (f"Sensitivity ({positive})", "sensitivity"),
        (f"Specificity ({positive})", "specificity"),
    )
    return [(label, pick(low, key), pick(chosen, key)) for label, key in labels]


def split_counts_table(
    data_report: dict[str, Any] | None, splits: pd.DataFrame | None
) -> pd.DataFrame | None:
    """Images per class (rows) and split (columns train/val/test, then others), with a ``total`` row/column."""
    if data_report and data_report.get("counts"):
        counts = pd.DataFrame(data_report["counts"]).fillna(0)
    elif splits is not None and {"label", "split"} <= set(splits.columns):
        counts = pd.crosstab(splits["label"].astype(str), splits["split"].astype(str))
    else:
        return None
    order = [s for s in ("train", "val", "test") if s in counts.columns]
    counts = counts[order + sorted(c for c in counts.columns if c not in order)].astype(int)
    counts["total"] = counts.sum(axis=1)
    counts.loc["total"] = counts.sum(axis=0)
    counts.index.name = "class"
    return counts


def pretrained_text(model: dict[str, Any]) -> str:
    """What a run's model started from, from its config's ``model`` section: the recorded
    ``pretrained_source`` (``torchvision IMAGENET1K_V1``, ``none (offline)``), or for a run made before it was
    recorded ``yes``/``none`` from ``pretrained``."""
    source = model.get("pretrained_source")
    if source:
        return str(source)
    return "yes" if model.get("pretrained") is True else "none"


# (label, key in a label's block of a multi-label test_metrics.json) of the per-label table; each with its CI.
PER_LABEL = (
    ("AUROC", "auroc"),
    ("AP", "average_precision"),
    ("Sensitivity", "sensitivity"),
    ("Specificity", "specificity"),
)
# (label, key) of a multi-label run's summary figures.
LABEL_SUMMARY = (("Macro AUROC", "macro_auroc"), ("Micro AUROC", "micro_auroc"), ("mAP", "map"))


def _figure(entry: dict[str, Any] | None) -> Estimate:
    entry = entry or {}
    return _estimate(entry.get("value"), entry)


def per_label_rows(metrics: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Estimate]]]:
    """``(label, its block, {metric key: estimate})`` per label of a multi-label test_metrics.json."""
    return [
        (name, block, {key: _figure(block.get(key)) for _, key in PER_LABEL})
        for name, block in (metrics.get("per_label") or {}).items()
    ]


def label_summary_rows(metrics: dict[str, Any]) -> list[tuple[str, Estimate]]:
    """``(label, estimate)`` of macro/micro AUROC and mAP of a multi-label test_metrics.json."""
    return [(label, _figure(metrics.get(key))) for label, key in LABEL_SUMMARY if key in metrics]
