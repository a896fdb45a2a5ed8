"""Subgroup analysis: the frozen model's metrics per value of an attribute (sex, age band, scanner, view, site),
with CIs, the largest gap between two subgroups with its CI, and a warning for subgroups too small to judge.

Every scored image (the internal test split and each external site) takes part; an image without a value for a
column is left out of that column (counted as ``missing``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from medclass.assessment.external import SiteScores
from medclass.evaluation.bootstrap import BOOTSTRAP_SEED
from medclass.evaluation.gaps import rate_difference
from medclass.evaluation.scoring import score

# Below 30 images a subgroup is "too small to judge": at n = 30 the 95% CI of an accuracy of 0.85 is about
# +-0.13 wide (1.96 * sqrt(0.85 * 0.15 / 30)), wider than most gaps worth acting on, and 30 is the usual floor
# of the normal approximation behind such intervals.
MIN_SUBGROUP_SIZE = 30
MIN_SUBGROUP_WHY = (
    f"fewer than {MIN_SUBGROUP_SIZE} images: the 95% CI of an accuracy near 0.85 is then wider than +-0.13, "
    "too wide to tell a real gap from chance"
)


def _gap(
    name: str, groups: dict[str, np.ndarray], outcomes: np.ndarray, metrics: dict[str, dict[str, Any]]
) -> dict[str, Any] | None:
    """The largest gap of accuracy between two judged subgroups (best minus worst), with a bootstrap CI."""
    judged = {g: rows for g, rows in groups.items() if not metrics[g]["too_small"]}
    pool = judged if len(judged) >= 2 else groups
    if len(pool) < 2:
        return None
    rate = {g: float(outcomes[rows].mean()) for g, rows in pool.items()}
    best, worst = max(rate, key=rate.get), min(rate, key=rate.get)
    diff = rate_difference(outcomes[pool[worst]], outcomes[pool[best]])
    text = (
        f"{name}: accuracy {diff['b']:.3f} for {best} vs {diff['a']:.3f} for {worst} (gap {diff['difference']:.3f}, "
        f"95% CI {diff['ci_low']:.3f} to {diff['ci_high']:.3f}"
        + ("; the CI excludes 0)" if diff["excludes_zero"] else "; the CI includes 0: no gap shown)")
    )
    if pool is groups and len(judged) < 2:
        text += f" - among subgroups too small to judge ({MIN_SUBGROUP_WHY})"
    return {"measure": "accuracy", "best": best, "worst": worst, **diff, "text": text}


def subgroup_analysis(
    sites: Sequence[SiteScores],
    values: dict[str, list[list[str | None]]],
    classes: list[str],
    threshold: float | None,
    positive_class: str | None,
    bootstrap: int,
) -> dict[str, Any]:
    """Per-subgroup metrics of each column.

    Args:
        sites: the scored sites.
        values: column -> one list per site of each image's value (None: unknown), in the site's image order.
        classes: the model's classes.
        threshold, positive_class: the stored decision (binary), as in scoring.
        bootstrap: resamples for the CIs.

    Returns:
        ``{"min_size", "min_size_why", "columns": {column: {"groups": {value: {"n", "too_small", "accuracy",
        "balanced_accuracy", "auroc" (each with CI), "sensitivity", "specificity" (binary)}}, "missing",
        "largest_gap", "warnings"}}}``.
    """
    y = np.concatenate([s.y_true for s in sites])
    probs = np.concatenate([s.probs for s in sites])
    outcomes = np.concatenate([s.correct for s in sites])
    positive = positive_class if len(classes) == 2 else None
    columns: dict[str, Any] = {}
    for column, per_site in values.items():
        flat = [v for site_values in per_site for v in site_values]
        groups = {
            g: np.flatnonzero([v == g for v in flat]) for g in sorted({v for v in flat if v is not None})
        }
        metrics: dict[str, dict[str, Any]] = {}
        warnings = []
        if not groups:
            warnings.append(
                f"{column}: no scored image has a value (do the paths of the manifest or file match?)"
            )
        for g, rows in groups.items():
            block = score(
                y[rows], probs[rows], classes, threshold, bootstrap, BOOTSTRAP_SEED, positive_class=positive
            )
            entry: dict[str, Any] = {"n": int(rows.size), "too_small": bool(rows.size < MIN_SUBGROUP_SIZE)}
            for key in ("accuracy", "balanced_accuracy", "auroc"):
                entry[key] = (
                    dict(block["ci"][key])
                    if "ci" in block
                    else {"value": block[key], "ci_low": None, "ci_high": None}
                )
            if "clinical" in block:
                entry["sensitivity"] = block["clinical"]["sensitivity"]
                entry["specificity"] = block["clinical"]["specificity"]
            metrics[g] = entry
            if entry["too_small"]:
                warnings.append(
                    f"{column} = {g}: {rows.size} image(s), too few to judge ({MIN_SUBGROUP_WHY})"
                )
        gap = _gap(column, groups, outcomes, metrics)
        columns[column] = {
            "groups": metrics,
            "missing": int(sum(v is None for v in flat)),
            "largest_gap": gap,
            "warnings": warnings,
        }
    return {"min_size": MIN_SUBGROUP_SIZE, "min_size_why": MIN_SUBGROUP_WHY, "columns": columns}
