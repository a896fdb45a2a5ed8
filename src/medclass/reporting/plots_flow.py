"""The participant (image) flow diagram STARD asks for: found -> unreadable -> duplicates -> per split -> per
class, drawn from a run's ``data_report.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

BOX = {"boxstyle": "round,pad=0.4", "facecolor": "#f1f3f6", "edgecolor": "#5b6473"}
EXCLUDED = {"boxstyle": "round,pad=0.4", "facecolor": "#fff6d6", "edgecolor": "#9a5b00"}
SPLITS = ("train", "val", "test")


def flow_counts(report: dict[str, Any]) -> dict[str, Any]:
    """The numbers of the diagram: ``found``, ``unreadable``, ``readable``, duplicate groups and extra copies
    (exact and near), and ``splits``: per split the images per class."""
    duplicates = report.get("duplicates") or {}
    readable = int(report.get("n_images") or 0)
    unreadable = len(report.get("skipped") or [])
    counts = report.get("counts") or {}
    return {
        "found": readable + unreadable,
        "unreadable": unreadable,
        "readable": readable,
        "exact": (duplicates.get("exact") or {}).get("extra_copies", 0),
        "near": (duplicates.get("near") or {}).get("extra_copies", 0),
        "policy": report.get("duplicate_policy") or "unknown",
        "splits": {split: dict(counts[split]) for split in SPLITS if split in counts},
    }


def flow_figure(report: dict[str, Any], path: Path) -> Path:
    """Draw the flow diagram of ``report`` (a run's data report) into ``path`` (PNG)."""
    numbers = flow_counts(report)
    splits = numbers["splits"]
    fig = Figure(figsize=(8.5, 5.2))
    ax = fig.add_subplot()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_axis_off()
    arrow = {"arrowstyle": "->", "color": "#5b6473"}
    ax.text(0.35, 0.93, f"image files found\nn = {numbers['found']}", ha="center", va="center", bbox=BOX)
    ax.text(
        0.8,
        0.93,
        f"unreadable, excluded\nn = {numbers['unreadable']}",
        ha="center",
        va="center",
        bbox=EXCLUDED,
    )
    ax.annotate("", xy=(0.64, 0.93), xytext=(0.47, 0.93), arrowprops=arrow)
    ax.annotate("", xy=(0.35, 0.72), xytext=(0.35, 0.87), arrowprops=arrow)
    ax.text(0.35, 0.66, f"readable images\nn = {numbers['readable']}", ha="center", va="center", bbox=BOX)
    ax.text(
        0.8,
        0.66,
        f"duplicates (extra copies)\nexact {numbers['exact']}, near {numbers['near']}\n{numbers['policy']}",
        ha="center",
        va="center",
        bbox=EXCLUDED,
    )
    ax.annotate("", xy=(0.62, 0.66), xytext=(0.47, 0.66), arrowprops=arrow)
    for k, (split, by_class) in enumerate(splits.items()):
        x = (k + 0.5) / max(len(splits), 1)
        per_class = "\n".join(f"{name}: {n}" for name, n in by_class.items())
        ax.annotate("", xy=(x, 0.43), xytext=(0.35, 0.6), arrowprops=arrow)
        ax.text(
            x,
            0.22,
            f"{split}\nn = {sum(by_class.values())}\n\n{per_class}",
            ha="center",
            va="center",
            bbox=BOX,
            fontsize=9,
        )
    ax.set_title("Image flow (data_report.json)", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=100, bbox_inches="tight", facecolor="white", format="png")
    return path
