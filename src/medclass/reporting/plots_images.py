"""Plots of images: a titled grid, predictions with errors first, feature maps per layer."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medclass.reporting.plots_common import new_figure, save_figure, styled, wrap_label


def _display_array(image: Any, index: int) -> tuple[np.ndarray, dict[str, Any]]:
    """An image ready for ``imshow`` plus its keyword arguments (gray colormap and range for 2-D images).

    uint8 keeps its 0-255 range and floats in [0, 1] their range, so dark images stay dark; any other range
    (normalised tensors, 16-bit) is min-max scaled for display.
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))) or 0 in array.shape:
        raise ValueError(
            f"images[{index}] must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {array.shape}"
        )
    if array.dtype == np.uint8:
        low, high = 0.0, 255.0
        scaled = array
    else:
        data = array.astype(float)
        if not np.all(np.isfinite(data)):
            data = np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)
        if data.min() >= 0.0 and data.max() <= 1.0:
            low, high = 0.0, 1.0
            scaled = data
        else:
            lo, hi = float(data.min()), float(data.max())
            scaled = (data - lo) / (hi - lo) if hi > lo else np.zeros_like(data)
            low, high = 0.0, 1.0
    if scaled.ndim == 2:
        return scaled, {"cmap": "gray", "vmin": low, "vmax": high}
    return scaled, {}


def _wrap_title(text: str) -> str:
    """Each line of a tile title wrapped on its own (a file name line stays apart from the label line)."""
    return "\n".join(wrap_label(line, 24, 3) for line in str(text).split("\n"))


def _grid(
    images: Sequence[Any],
    titles: Sequence[str],
    path: str | os.PathLike,
    ncols: int,
    title: str | None,
    title_colors: Sequence[str] | None,
) -> Path:
    n = len(images)
    if n == 0:
        raise ValueError("images is empty: nothing to plot")
    if len(titles) != n:
        raise ValueError(f"titles has {len(titles)} entries for {n} images")
    if title_colors is not None and len(title_colors) != n:
        raise ValueError(f"title_colors has {len(title_colors)} entries for {n} images")
    if int(ncols) != ncols or ncols < 1:
        raise ValueError(f"ncols must be a positive integer, got {ncols!r}")
    prepared = [_display_array(image, i) for i, image in enumerate(images)]
    cols = min(int(ncols), n)
    rows = math.ceil(n / cols)
    titles = [_wrap_title(t) for t in titles]
    lines = max(len(t.splitlines()) for t in titles)
    cell_w, cell_h = 2.3, 2.1 + 0.17 * lines
    fig = new_figure(cell_w * cols, cell_h * rows + (0.5 if title else 0.0))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i >= n:
            continue
        array, kwargs = prepared[i]
        ax.imshow(array, interpolation="nearest" if max(array.shape[:2]) < 64 else "antialiased", **kwargs)
        color = title_colors[i] if title_colors is not None else "black"
        ax.set_title(titles[i], fontsize=8.5, color=color)
    if title:
        fig.suptitle(title)
    fig.subplots_adjust(wspace=0.08, hspace=0.35)
    return save_figure(fig, path)


@styled
def plot_image_grid(
    images: Sequence[Any],
    titles: Sequence[str],
    path: str | os.PathLike,
    ncols: int = 6,
    title: str | None = None,
    title_colors: Sequence[str] | None = None,
) -> Path:
    """Images in a grid, each with its (wrapped) title.

    Args:
        images: ``H x W`` or ``H x W x C`` (C = 1, 3, 4) arrays; uint8 or float. Gray images use a gray colormap.
        titles: one title per image.
        path: PNG to write.
        ncols: images per row.
        title: optional title of the whole figure.
        title_colors: optional matplotlib colour per image title (e.g. red for errors).

    Raises:
        ValueError: no images, a count mismatch, or an image of unsupported shape (named).
    """
    return _grid(images, titles, path, ncols, title, title_colors)


@styled
def plot_prediction_grid(
    images: Sequence[Any],
    true_labels: Sequence[Any],
    pred_labels: Sequence[Any],
    confidences: Sequence[float],
    path: str | os.PathLike,
    max_images: int = 24,
    names: Sequence[str] | None = None,
) -> Path:
    """Predictions titled ``"true / predicted (confidence)"``: the most confident errors first, in red.

    With ``names`` (e.g. the file names) each tile's title starts with its name, so a reader can find the image.

    The errors come first, most confident first (the ones a reader must see), then correct predictions, most
    confident first; at most ``max_images`` are shown.

    Raises:
        ValueError: the four sequences differ in length, or no images.
    """
    n = len(images)
    lengths = {len(true_labels), len(pred_labels), len(confidences)}
    if lengths != {n}:
        raise ValueError(
            f"images ({n}), true_labels ({len(true_labels)}), pred_labels ({len(pred_labels)}) and "
            f"confidences ({len(confidences)}) must have the same length"
        )
    if n == 0:
        raise ValueError("images is empty: nothing to plot")
    if max_images < 1:
        raise ValueError(f"max_images must be >= 1, got {max_images}")
    conf = np.asarray(confidences, dtype=float)
    wrong = np.array([str(t) != str(p) for t, p in zip(true_labels, pred_labels, strict=True)])
    # lexsort: the last key is primary -> errors (wrong=True) first, then descending confidence.
    order = np.lexsort((-conf, ~wrong))[: int(max_images)]
    titles = [f"{true_labels[i]} / {pred_labels[i]} ({conf[i]:.2f})" for i in order]
    if names is not None:
        if len(names) != n:
            raise ValueError(f"names has {len(names)} entries for {n} images")
        titles = [f"{names[i]}\n{t}" for i, t in zip(order, titles, strict=True)]
    colors = ["tab:red" if wrong[i] else "black" for i in order]
    shown_errors = int(wrong[order].sum())
    title = (
        f"true / predicted (confidence): {int(wrong.sum())} errors in {n} images; "
        f"showing {len(order)}, errors first (red: {shown_errors})"
    )
    return _grid([images[i] for i in order], titles, path, 6, title, colors)


def _as_maps(name: str, value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    array = np.asarray(value, dtype=float)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or 0 in array.shape:
        raise ValueError(f"feature maps of {name!r} must have shape (C, H, W), got {np.asarray(value).shape}")
    return array


@styled
def plot_feature_maps(maps: dict[str, Any], path: str | os.PathLike, max_channels: int = 16) -> Path:
    """Activation maps, one row per layer, the first ``max_channels`` channels each (viridis, own range).

    Args:
        maps: layer name -> activations ``(C, H, W)`` (a leading batch of 1 and torch tensors are accepted).
        path: PNG to write.
        max_channels: channels shown per layer.

    Raises:
        ValueError: ``maps`` is empty or a value is not ``(C, H, W)`` (its shape is named).
    """
    if not maps:
        raise ValueError("maps is empty: give layer name -> (C, H, W) activations")
    if max_channels < 1:
        raise ValueError(f"max_channels must be >= 1, got {max_channels}")
    layers = [(str(name), _as_maps(str(name), value)) for name, value in maps.items()]
    cols = min(int(max_channels), max(m.shape[0] for _, m in layers))
    cell = 1.25
    fig = new_figure(cell * cols + 1.2, cell * len(layers) + 0.6)
    axes = fig.subplots(len(layers), cols, squeeze=False)
    for row, (name, array) in enumerate(layers):
        for col in range(cols):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if col >= array.shape[0]:
                continue
            channel = array[col]
            low, high = float(channel.min()), float(channel.max())
            ax.imshow(channel, cmap="viridis", vmin=low, vmax=high if high > low else low + 1)
            if all(col >= other.shape[0] for _, other in layers[:row]):  # first row with this channel
                ax.set_title(f"ch {col}", fontsize=7, pad=2)
        c, h, w = array.shape
        axes[row, 0].set_ylabel(
            f"{wrap_label(name, 16, 3)}\n{c}×{h}×{w}", fontsize=8, rotation=0, ha="right", va="center"
        )
    fig.suptitle(f"Feature maps (first {cols} channels per layer, each scaled to its own range)")
    fig.subplots_adjust(wspace=0.05, hspace=0.3)
    return save_figure(fig, path)
