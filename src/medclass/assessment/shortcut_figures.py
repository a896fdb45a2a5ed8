"""The figures behind the three shortcut verdicts (PNG, matplotlib's Agg canvas without ``pyplot``).

They are drawn here, beside the screens, because the screens are the only producers of these arrays and
``reporting`` may not be imported by a feature package (import-linter's layers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from medclass.data.body_mask import energy_inside

DPI = 100
CHANCE_STYLE = {"color": "#c0392b", "linestyle": "--", "linewidth": 1.2}


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=DPI, bbox_inches="tight", facecolor="white", format="png")
    return path


def _interval_bars(
    ax, labels: Sequence[str], cis: Sequence[Mapping[str, float | None]], chance: float, metric: str
) -> None:
    """Horizontal bars of ``metric`` with their CIs (where given), and the chance line."""
    values = [c.get("value") or 0.0 for c in cis]
    ys = np.arange(len(labels))
    ax.barh(ys, values, color="#5b8db8")
    with_ci = [i for i, c in enumerate(cis) if c.get("ci_low") is not None and c.get("ci_high") is not None]
    if with_ci:
        low = [values[i] - cis[i]["ci_low"] for i in with_ci]
        high = [cis[i]["ci_high"] - values[i] for i in with_ci]
        ax.errorbar(
            [values[i] for i in with_ci], ys[with_ci], xerr=[low, high], fmt="none", ecolor="black", capsize=3
        )
    ax.set_yticks(ys, labels)
    ax.invert_yaxis()
    ax.axvline(chance, **CHANCE_STYLE, label=f"chance ({chance:.2f})")
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"{metric} (95% CI where shown)")
    ax.legend(loc="lower right", fontsize=8)


def metadata_figure(
    path: Path, overall: Mapping[str, float | None], single: Mapping[str, float], chance: float
) -> Path:
    """All metadata together (with CI) and each feature alone, against chance."""
    order = sorted(single, key=single.get, reverse=True)
    fig = Figure(figsize=(6.5, 0.35 * (len(order) + 1) + 1.2), layout="constrained")
    ax = fig.add_subplot()
    cis = [overall] + [{"value": single[name], "ci_low": None, "ci_high": None} for name in order]
    _interval_bars(
        ax, ["all metadata"] + [f"{name} alone" for name in order], cis, chance, "balanced accuracy"
    )
    ax.set_title("Label predicted from image metadata only (cross-validated)", fontsize=10)
    return _save(fig, path)


def _grey(pixels: np.ndarray) -> np.ndarray:
    array = np.asarray(pixels)
    return array[:, :, 0] if array.ndim == 3 and array.shape[2] == 1 else array


def masked_figure(
    path: Path,
    examples: Sequence[Sequence[np.ndarray]],
    scores: Mapping[str, Mapping[str, float | None]],
    chance: float,
) -> Path:
    """Example rows (original, anatomy masked, background masked) and the AUROC of each condition."""
    rows = max(len(examples), 1)
    fig = Figure(figsize=(7.5, 1.9 * rows + 2.2), layout="constrained")
    grid = fig.add_gridspec(rows + 1, 3, height_ratios=[1.0] * rows + [1.2])
    titles = ("model input", "anatomy masked out", "background masked out")
    for r, row in enumerate(examples):
        for c, image in enumerate(row):
            ax = fig.add_subplot(grid[r, c])
            ax.imshow(_grey(image), cmap="gray", vmin=0, vmax=255)
            ax.set_axis_off()
            if r == 0:
                ax.set_title(titles[c], fontsize=9)
    ax = fig.add_subplot(grid[rows, :])
    labels = {
        "original": "model input",
        "masked_anatomy": "anatomy masked",
        "masked_background": "background masked",
    }
    _interval_bars(ax, [labels[k] for k in scores], list(scores.values()), chance, "AUROC")
    return _save(fig, path)


def outside_figure(
    path: Path,
    energy: np.ndarray,
    area: np.ndarray,
    examples: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> Path:
    """Histogram of the per-image share of explanation energy outside the body, the flat-map share, and examples
    (image, map, outline)."""
    fig = Figure(figsize=(7.5, 5.2), layout="constrained")
    grid = fig.add_gridspec(2, max(len(examples), 1), height_ratios=[1.3, 1.0])
    ax = fig.add_subplot(grid[0, :])
    ax.hist(energy, bins=np.linspace(0, 1, 21), color="#5b8db8", label="explanation energy outside the body")
    if len(area):
        ax.axvline(float(np.median(area)), **CHANCE_STYLE, label="flat map (area outside, median)")
        ax.axvline(float(np.median(energy)), color="black", linewidth=1.2, label="median of the maps")
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the map's energy outside the body outline")
    ax.set_ylabel("images")
    ax.legend(fontsize=8)
    for c, (pixels, heat, mask) in enumerate(examples):
        sub = fig.add_subplot(grid[1, c])
        sub.imshow(_grey(pixels), cmap="gray", vmin=0, vmax=255)
        sub.imshow(heat, cmap="jet", alpha=0.4)
        sub.contour(mask.astype(float), levels=[0.5], colors="white", linewidths=0.8)
        sub.set_axis_off()
        sub.set_title(f"{1.0 - energy_inside(heat, mask):.0%} outside", fontsize=9)
    return _save(fig, path)
