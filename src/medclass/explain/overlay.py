"""Explanation pictures: a heat map over the image the model saw, and a grid for localisation checks.

Figures are built with :class:`matplotlib.figure.Figure` and the Agg canvas, never through ``pyplot``, so no
global figure list grows while hundreds of overlays are written.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

DPI = 100
HEAT_ALPHA = 0.45


def _gray(image: np.ndarray) -> tuple[np.ndarray, dict]:
    """A uint8 ``H x W x C`` (or ``H x W``) image and its ``imshow`` arguments."""
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        return array, {"cmap": "gray", "vmin": 0, "vmax": 255}
    return array, {}


def _heat_args(heat: np.ndarray, signed: bool) -> dict:
    """Colour scale of a map: symmetric around 0 for signed maps, the map's own range otherwise."""
    if signed:
        limit = float(np.abs(heat).max()) or 1.0
        return {"cmap": "RdBu_r", "vmin": -limit, "vmax": limit}
    low, high = float(heat.min()), float(heat.max())
    return {"cmap": "jet", "vmin": low, "vmax": high if high > low else low + 1.0}


def _save(fig: Figure, path: str | os.PathLike, dpi: int = DPI) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=dpi, bbox_inches="tight", facecolor="white", format="png")
    return path


# What the colour bar of each method's map measures.
COLORBAR_LABELS = {
    "saliency": "|gradient| of the class score",
    "integrated-gradients": "attribution (red raises the class score)",
    "occlusion": "class-score drop when hidden",
    "feature-maps": "mean activation",
}
CAM_COLORBAR_LABEL = "class activation (0 = least, 1 = most)"


def colorbar_label(method: str) -> str:
    """The colour-bar label of ``method``'s maps (CAMs: min-max scaled activations)."""
    return COLORBAR_LABELS.get(method, CAM_COLORBAR_LABEL)


def folder_label(path: str | os.PathLike, classes: Sequence[str]) -> str | None:
    """The true class of an image in a folder-per-class layout: its parent folder's name, if it is a class."""
    parent = Path(path).parent.name
    return parent if parent in classes else None


def overlay_title(
    path: str | os.PathLike,
    predicted: str,
    confidence: float,
    true_label: str | None = None,
    explained: str | None = None,
) -> str:
    """``"<file>: predicted <class> (<p>%)[, true <class>][, explaining <class>]"``."""
    title = f"{Path(path).name}: predicted {predicted} ({confidence:.1%})"
    if true_label is not None:
        title += f", true {true_label}"
    if explained is not None and explained != predicted:
        title += f", explaining {explained}"
    return title


def save_overlay(
    image: np.ndarray,
    heat: np.ndarray,
    path: str | os.PathLike,
    title: str,
    signed: bool = False,
    caption: str | None = None,
    colorbar: str | None = None,
) -> Path:
    """Write the image and the image with ``heat`` over it, side by side, titled ``title``.

    Args:
        image: the preprocessed uint8 image ``H x W x C`` (what the model saw).
        heat: ``H x W`` map at the same size.
        path: PNG to write.
        title: figure title (e.g. predicted class and confidence).
        signed: colour a signed map with a diverging scale centred on 0.
        caption: small text under the overlay (method, layer, target).
        colorbar: the colour bar's label (what the map measures, see :func:`colorbar_label`).

    Raises:
        ValueError: the map does not have the image's height and width.
    """
    pixels, image_args = _gray(image)
    heat = np.asarray(heat, dtype=np.float32)
    if heat.shape != pixels.shape[:2]:
        raise ValueError(f"heat map shape {heat.shape} differs from the image's {pixels.shape[:2]}")
    fig = Figure(figsize=(6.4, 3.5), dpi=DPI)
    left, right = fig.subplots(1, 2)
    left.imshow(pixels, **image_args)
    right.imshow(pixels, **image_args)
    shown = right.imshow(heat, alpha=HEAT_ALPHA, **_heat_args(heat, signed))
    bar = fig.colorbar(shown, ax=right, fraction=0.046, pad=0.03)
    if colorbar:
        bar.set_label(colorbar, fontsize=8)
        bar.ax.tick_params(labelsize=7)
    for ax in (left, right):
        ax.set_xticks([])
        ax.set_yticks([])
    left.set_xlabel("model input")
    right.set_xlabel(caption or "explanation")
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def save_localisation_grid(
    images: Sequence[np.ndarray],
    maps: Sequence[np.ndarray],
    boxes: Sequence[tuple[float, float, float, float]],
    hits: Sequence[bool],
    path: str | os.PathLike,
    title: str,
    ncols: int = 6,
    dpi: int = 80,
) -> Path:
    """A grid of overlays with the true box (green: the map's maximum is inside, red: outside) and the maximum.

    Args:
        images: uint8 model inputs.
        maps: maps at the images' size.
        boxes: ``(x0, y0, x1, y1)`` per image in map pixels (the dilated box the check used).
        hits: whether the map's maximum fell inside each box.
        path: PNG to write.
        title: figure title.
        ncols: images per row.
        dpi: resolution (80 keeps a 12-image grid under 200 KB for the docs).
    """
    n = len(images)
    if not n or not len(maps) == len(boxes) == len(hits) == n:
        raise ValueError("images, maps, boxes and hits must be non-empty and of equal length")
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig = Figure(figsize=(1.6 * ncols, 1.7 * nrows + 0.4), dpi=DPI)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax in axes:
        ax.set_axis_off()
    for ax, image, heat, box, hit in zip(axes, images, maps, boxes, hits, strict=False):
        pixels, image_args = _gray(image)
        ax.imshow(pixels, **image_args)
        ax.imshow(heat, alpha=HEAT_ALPHA, **_heat_args(np.asarray(heat), False))
        x0, y0, x1, y1 = box
        colour = "lime" if hit else "red"
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, lw=1.2, ec=colour))
        peak_y, peak_x = np.unravel_index(int(np.argmax(heat)), np.shape(heat))
        ax.plot([peak_x], [peak_y], marker="+", color="white", markersize=8, mew=1.5)
    fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(wspace=0.04, hspace=0.04)
    return _save(fig, path, dpi)


def save_overlay_pairs(
    images: Sequence[np.ndarray],
    maps: Sequence[np.ndarray],
    titles: Sequence[str],
    path: str | os.PathLike,
    title: str,
    colorbar: str = CAM_COLORBAR_LABEL,
    pairs_per_row: int = 3,
) -> Path:
    """A grid of pairs: each image as the model saw it, then with its map over it (one colour bar).

    Args:
        images: uint8 model inputs ``H x W x C``.
        maps: maps at the images' size (min-max scaled CAMs share the colour scale 0-1).
        titles: one per pair, above its first image (e.g. file name, true and predicted class).
        path: PNG to write.
        title: figure title.
        colorbar: the colour bar's label.
        pairs_per_row: pairs in one row.
    """
    n = len(images)
    if not n or not len(maps) == len(titles) == n:
        raise ValueError("images, maps and titles must be non-empty and of equal length")
    per_row = min(pairs_per_row, n)
    nrows = -(-n // per_row)
    fig = Figure(figsize=(2.0 * 2 * per_row + 0.8, 2.3 * nrows + 0.6), dpi=DPI)
    axes = np.atleast_2d(fig.subplots(nrows, 2 * per_row, squeeze=False))
    for ax in axes.ravel():
        ax.set_axis_off()
    shown = None
    for k, (image, heat, label) in enumerate(zip(images, maps, titles, strict=True)):
        left, right = axes[k // per_row, 2 * (k % per_row)], axes[k // per_row, 2 * (k % per_row) + 1]
        pixels, image_args = _gray(image)
        left.imshow(pixels, **image_args)
        right.imshow(pixels, **image_args)
        shown = right.imshow(heat, alpha=HEAT_ALPHA, cmap="jet", vmin=0.0, vmax=1.0)
        left.set_title(label, fontsize=7, loc="left")
    bar = fig.colorbar(shown, ax=axes.ravel().tolist(), fraction=0.02, pad=0.01)
    bar.solids.set_alpha(1.0)  # the bar shows the colours, not the see-through overlay
    bar.set_label(colorbar, fontsize=8)
    bar.ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)
