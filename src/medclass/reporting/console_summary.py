"""The summary ``medclass evaluate`` prints first: the clinical numbers of a binary task (sensitivity,
specificity, PPV, NPV with CIs, the confusion counts, AUROC) at the decision rule and at the operating point
chosen on val, then the headline metrics of the metrics JSON with their CIs and the ECE, per image and, when
groups are known, per patient."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def format_interval(entry: dict[str, Any] | float | None) -> str:
    """``0.912 (0.871-0.944)``, ``0.912`` without a CI, ``-`` when undefined."""
    if entry is None:
        return "-"
    if not isinstance(entry, dict):
        return f"{entry:.3f}"
    value, low, high = entry.get("value"), entry.get("ci_low"), entry.get("ci_high")
    if value is None:
        return "-"
    if low is None or high is None:
        return f"{value:.3f}"
    return f"{value:.3f} ({low:.3f}-{high:.3f})"


def _clinical_table(blocks: list[dict[str, Any]], ci_unit: str) -> Table:
    positive = blocks[0]["positive_class"]
    table = Table(
        "",
        *(b["rule"] for b in blocks),
        title=f"positive class: {positive} (95% CI, resampling {ci_unit}s)",
        title_justify="left",
    )
    for key, label in (
        ("sensitivity", "sensitivity"),
        ("specificity", "specificity"),
        ("ppv", "PPV"),
        ("npv", "NPV"),
    ):
        table.add_row(label, *(format_interval(b[key]) for b in blocks))
    table.add_row("TP / FN", *(f"{b['tp']} / {b['fn']}" for b in blocks))
    table.add_row("FP / TN", *(f"{b['fp']} / {b['tn']}" for b in blocks))
    table.add_row("AUROC", *(format_interval(b["auroc"]) for b in blocks))
    return table


def _headline_table(metrics: dict[str, Any]) -> Table:
    columns = [("images", metrics)]
    if "by_group" in metrics:
        columns.append((f"patients ({metrics['by_group']['aggregate']} per group)", metrics["by_group"]))
    table = Table("metric", *(f"{name}, n={block['n']}" for name, block in columns), title_justify="left")
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "auroc"):
        table.add_row(
            key.replace("_", " "),
            *(format_interval(block.get("ci", {}).get(key) or block.get(key)) for _, block in columns),
        )
    table.add_row("ECE (15 bins)", *(format_interval(block.get("ece")) for _, block in columns))
    return table


def _class_points_table(points: dict[str, Any]) -> Table:
    table = Table(
        "class",
        "threshold",
        "sensitivity",
        "specificity",
        "PPV",
        "NPV",
        title=f"one-vs-rest operating points ({points['rule']}, chosen on {points['chosen_on']})",
        title_justify="left",
    )
    for name, entry in points["per_class"].items():
        cells = [entry.get(k) for k in ("threshold", "sensitivity", "specificity", "ppv", "npv")]
        table.add_row(name, *(format_interval(c) for c in cells))
    return table


def print_metrics_summary(metrics: dict[str, Any], console: Console) -> None:
    """Print the summary tables of a metrics JSON (see the module docstring)."""
    ci_unit = metrics.get("ci", {}).get("unit", "image")
    points = metrics.get("operating_points")
    if "clinical" in metrics:
        blocks = [metrics["clinical"]]
        if points is not None and "clinical" in points and points["threshold"] != metrics.get("threshold"):
            blocks.append(points["clinical"])
        console.print(_clinical_table(blocks, ci_unit))
        console.print(f"predict uses: {metrics['clinical']['rule']} (evaluation.operating_point)")
    console.print(_headline_table(metrics))
    if points is not None and "per_class" in points:
        console.print(_class_points_table(points))
    if ci_unit == "group":
        console.print(f"CIs resample the {metrics['ci']['n_groups']} groups (patients), not the images")
