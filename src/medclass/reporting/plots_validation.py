"""The figures of ``medclass validate``: reliability curves per site, the decision curve with the operating point,
and the forest plot of per-site and per-subgroup accuracy with the pooled estimate. Each takes the dicts of
``validation.json`` (not live objects), so the figures can be redrawn from the file alone."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medclass.reporting.plots_common import class_colors, new_figure, save_figure, styled
from medclass.runs.validation_layout import DECISION_CURVE_FIGURE, FOREST_FIGURE, RELIABILITY_FIGURE


@styled
def plot_site_reliability(sites: dict[str, dict[str, Any]], path: str | os.PathLike) -> Path:
    """One reliability curve per site (accuracy against mean confidence per bin, top-label, the ECE's bins),
    with the site's ECE and calibration slope in the legend."""
    fig = new_figure(5.6, 5.0)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.4", linewidth=1.0, label="perfect calibration")
    for color, (name, site) in zip(class_colors(len(sites)), sites.items(), strict=True):
        calibration = site["calibration"]
        curve = calibration["reliability"]
        points = [
            (c, a, n)
            for c, a, n in zip(curve["confidence"], curve["accuracy"], curve["counts"], strict=True)
            if n
        ]
        conf, acc, counts = (np.array(v, dtype=float) for v in zip(*points, strict=True))
        slope = calibration["slope"]
        label = f"{name} (n={site['n']}, ECE {calibration['ece']:.3f}" + (
            f", slope {slope:.2f})" if slope is not None else ")"
        )
        ax.plot(conf, acc, marker="o", color=color, linewidth=1.5, label=label)
        ax.scatter(conf, acc, s=8 + 60 * counts / counts.max(), color=color, alpha=0.4)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("mean confidence in bin (top-label probability)")
    ax.set_ylabel("accuracy in bin")
    ax.set_title("Reliability per site (marker size: images in bin)")
    ax.legend(loc="upper left", frameon=False, fontsize=8)
    ax.grid(True)
    return save_figure(fig, path)


@styled
def plot_decision_curves(
    curves: dict[str, dict[str, Any]], positive_class: str, path: str | os.PathLike
) -> Path:
    """Net benefit against threshold probability per site: the model (solid), treat-all (dashed, same colour)
    and treat-none (black), the model's operating point marked."""
    fig = new_figure(6.4, 4.6)
    ax = fig.subplots()
    top = 0.0
    for color, (name, curve) in zip(class_colors(len(curves)), curves.items(), strict=True):
        t = np.asarray(curve["thresholds"])
        ax.plot(t, curve["model"], color=color, linewidth=1.8, label=f"model, {name}")
        ax.plot(t, curve["treat_all"], color=color, linewidth=1.0, linestyle="--", label=f"treat all, {name}")
        point = curve["operating_point"]
        if point is not None:
            ax.plot(
                [point["threshold"]],
                [point["model"]],
                marker="D",
                color=color,
                markersize=7,
                markeredgecolor="k",
            )
        top = max(top, curve["prevalence"])
    ax.axhline(0.0, color="k", linewidth=1.0, label="treat none")
    ax.plot([], [], marker="D", color="0.5", markeredgecolor="k", linestyle="none", label="operating point")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.05, top + 0.05)
    ax.set_xlabel(f"threshold probability of {positive_class}")
    ax.set_ylabel("net benefit")
    ax.set_title("Decision curve (Vickers & Elkin 2006)")
    ax.legend(loc="upper right", frameon=False, fontsize=8)
    ax.grid(True)
    return save_figure(fig, path)


@dataclass(frozen=True)
class ForestRow:
    """One row of a forest plot: a label, a value with its CI, and whether it is a pooled estimate."""

    label: str
    value: float
    low: float | None
    high: float | None
    pooled: bool = False
    section: str = ""


@styled
def plot_forest(rows: Sequence[ForestRow], measure: str, path: str | os.PathLike) -> Path:
    """Forest plot: one row per site or subgroup (point and 95% CI), pooled estimates as diamonds, sections
    (sites, each subgroup column) separated by a line."""
    fig = new_figure(6.4, 1.0 + 0.32 * len(rows))
    ax = fig.subplots()
    ys = np.arange(len(rows))[::-1]
    previous = None
    for y, row in zip(ys, rows, strict=True):
        if previous is not None and row.section != previous:
            ax.axhline(y + 0.5, color="0.8", linewidth=0.8)
        previous = row.section
        if row.pooled and row.low is not None and row.high is not None:
            diamond_x = [row.low, row.value, row.high, row.value]
            ax.fill(diamond_x, [y, y + 0.3, y, y - 0.3], color="0.2")
            continue
        if row.low is not None and row.high is not None:
            ax.plot([row.low, row.high], [y, y], color="tab:blue", linewidth=1.6)
        ax.plot([row.value], [y], marker="s", color="tab:blue")
    ax.set_yticks(ys)
    ax.set_yticklabels([f"{r.section}: {r.label}" if r.section else r.label for r in rows], fontsize=8)
    ax.set_xlim(0, 1.02)
    ax.set_xlabel(f"{measure} (95% CI)")
    ax.set_title(f"{measure} per site and subgroup")
    ax.grid(True, axis="x")
    return save_figure(fig, path)


def forest_rows(results: dict[str, Any]) -> list[ForestRow]:
    """The forest plot's rows from ``validation.json``'s sections: accuracy per site, the pooled estimate, then
    each subgroup column's groups."""
    rows = []
    for name, site in results["external"].items():
        acc = site["metrics"]["accuracy"]
        rows.append(
            ForestRow(f"{name} (n={site['n']})", acc["value"], acc["ci_low"], acc["ci_high"], section="site")
        )
    pooled = (results.get("heterogeneity") or {}).get("accuracy")
    if pooled:
        label = f"pooled, I^2 = {100 * pooled['i2']:.0f}%"
        rows.append(ForestRow(label, pooled["estimate"], pooled["ci_low"], pooled["ci_high"], True, "site"))
    for column, analysis in ((results.get("subgroups") or {}).get("columns") or {}).items():
        if set(analysis["groups"]) == set(results["external"]):
            continue  # the sites again (the ``site`` column): already the first rows
        for group, entry in analysis["groups"].items():
            acc = entry["accuracy"]
            mark = " (too small)" if entry["too_small"] else ""
            rows.append(
                ForestRow(
                    f"{group} (n={entry['n']}){mark}",
                    acc["value"],
                    acc["ci_low"],
                    acc["ci_high"],
                    section=column,
                )
            )
    return rows


def write_validation_figures(results: dict[str, Any], figures_dir: Path) -> dict[str, Path]:
    """Draw the figures of ``validate`` from its results: ``reliability``, ``forest`` and, for a binary model,
    ``decision_curve``; returns their paths by name."""
    paths = {
        "reliability": plot_site_reliability(results["external"], figures_dir / RELIABILITY_FIGURE),
        "forest": plot_forest(forest_rows(results), "accuracy", figures_dir / FOREST_FIGURE),
    }
    curves = results["decision_curve"]
    if "sites" in curves:
        paths["decision_curve"] = plot_decision_curves(
            curves["sites"], curves["positive_class"], figures_dir / DECISION_CURVE_FIGURE
        )
    return paths
