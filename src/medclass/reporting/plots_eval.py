"""Plots of evaluation results: confusion matrix, ROC and precision-recall curves, reliability diagram.

Conventions are those of :mod:`medclass.evaluation.metrics` (binary: the positive class is index 1; per-class
curves are one-vs-rest). The reporting package does not import :mod:`medclass.evaluation` (sibling packages
only share lower layers, see docs/ARCHITECTURE.md), so the few lines of input checking and confidence binning
are repeated here; ``tests/reporting/test_plots.py`` checks that the ECE shown equals the evaluation one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure, SubFigure
from numpy.typing import ArrayLike
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

from medclass.evaluation.calibration import expected_calibration_error, reliability_curve
from medclass.reporting.plots_common import (
    class_colors,
    integer_ticks,
    needs_rotation,
    new_figure,
    save_figure,
    styled,
    wrap_label,
)


def _check_scores(
    y_true: ArrayLike, probs: ArrayLike, classes: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probs, dtype=float)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] < 2:
        raise ValueError(f"probs must have shape (N, K) with N >= 1 and K >= 2 classes, got shape {p.shape}")
    y = np.asarray(y_true)
    if y.shape != (p.shape[0],):
        raise ValueError(
            f"y_true must have shape ({p.shape[0]},) to match probs {p.shape}, got shape {y.shape}"
        )
    is_integral = np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.bool_)
    if not is_integral and not (np.issubdtype(y.dtype, np.number) and np.all(np.mod(y, 1) == 0)):
        raise ValueError(f"y_true must hold integer class indices, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= p.shape[1]:
        raise ValueError(
            f"y_true holds class indices outside 0..{p.shape[1] - 1} (probs has shape {p.shape})"
        )
    if classes is not None and len(classes) != p.shape[1]:
        raise ValueError(f"classes has {len(classes)} names but probs has shape {p.shape}")
    return y, p


def _legend(ax, n_entries: int) -> None:
    if n_entries > 6:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=8)
    else:
        ax.legend(loc="lower right" if n_entries else "best", frameon=True, framealpha=0.9)


@styled
def plot_confusion_matrix(
    cm: ArrayLike, classes: Sequence[str], path: str | os.PathLike, normalize: bool = False
) -> Path:
    """Confusion matrix as a heat map with a number in every cell.

    Args:
        cm: ``K x K`` counts, rows = true class, columns = predicted class.
        classes: the ``K`` class names (long names are wrapped; x labels rotate when long or many).
        path: PNG to write.
        normalize: show each row divided by its total (the recall per class on the diagonal); the count is
            kept under the fraction when ``K <= 8``. Rows without images stay 0.

    Raises:
        ValueError: ``cm`` is not square, does not match ``len(classes)``, or holds negative values.
    """
    counts = np.asarray(cm, dtype=float)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] == 0:
        raise ValueError(f"cm must be a square K x K matrix, got shape {counts.shape}")
    k = counts.shape[0]
    if len(classes) != k:
        raise ValueError(f"classes has {len(classes)} names but cm has shape {counts.shape}")
    if not np.all(np.isfinite(counts)) or counts.min() < 0:
        raise ValueError("cm must hold non-negative finite counts")
    support = counts.sum(axis=1)
    if normalize:
        values = np.divide(counts, support[:, None], out=np.zeros_like(counts), where=support[:, None] > 0)
        vmax = 1.0
    else:
        values = counts
        vmax = max(float(counts.max()), 1.0)

    side = max(4.6, 0.62 * k + 2.8)
    fig = new_figure(side + 1.0, side)
    ax = fig.subplots()
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=vmax)
    colorbar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    colorbar.set_label("fraction of true class" if normalize else "images")

    font = 12 if k <= 3 else 10 if k <= 6 else 8.5 if k <= 10 else 7.5 if k <= 16 else 6
    with_counts = normalize and k <= 8
    for i in range(k):
        for j in range(k):
            if normalize and counts[i, j] == 0:
                text = "0"  # a bare 0 keeps empty cells quiet next to the fractions
            elif normalize:
                text = f"{values[i, j]:.2f}" + (f"\n({int(counts[i, j])})" if with_counts else "")
            else:
                text = f"{int(counts[i, j])}" if float(counts[i, j]).is_integer() else f"{counts[i, j]:.1f}"
            color = "white" if values[i, j] > 0.55 * vmax else "black"
            ax.text(j, i, text, ha="center", va="center", color=color, fontsize=font)

    names = [str(c) for c in classes]
    rotate = needs_rotation(names)
    ax.set_xticks(
        np.arange(k),
        [wrap_label(c) for c in names],
        rotation=45 if rotate else 0,
        ha="right" if rotate else "center",
        rotation_mode="anchor",
    )
    ax.set_yticks(
        np.arange(k), [f"{wrap_label(c)}\n(n={int(s)})" for c, s in zip(names, support, strict=True)]
    )
    ax.tick_params(axis="both", labelsize=9 if k <= 8 else 7.5)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.spines[:].set_visible(False)
    total = int(counts.sum())
    ax.set_title(
        f"Confusion matrix{' (row-normalised)' if normalize else ''}\n"
        f"{total} images, accuracy {np.trace(counts) / max(total, 1):.3f}"
    )
    return save_figure(fig, path)


def _one_vs_rest(
    y: np.ndarray, p: np.ndarray, classes: Sequence[str]
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(label, is_positive, score) per curve: binary -> the positive class only; multi-class -> every class."""
    names = [str(c) for c in classes]
    if p.shape[1] == 2:
        return [(names[1], y == 1, p[:, 1])]
    return [(name, y == j, p[:, j]) for j, name in enumerate(names)]


@styled
def plot_roc_curves(
    y_true: ArrayLike, probs: ArrayLike, classes: Sequence[str], path: str | os.PathLike
) -> Path:
    """ROC curve(s) with the AUC in the legend.

    Binary: one curve of ``probs[:, 1]`` (positive class ``classes[1]``). Multi-class: one one-vs-rest curve per
    class; a class absent from ``y_true`` is listed in the legend without a curve.

    Raises:
        ValueError: bad shapes (named), or no class with both positive and negative images.
    """
    y, p = _check_scores(y_true, probs, classes)
    curves = _one_vs_rest(y, p, classes)
    binary = p.shape[1] == 2
    fig = new_figure(5.6, 5.0)
    ax = fig.subplots()
    colors = ["tab:red"] if binary else class_colors(len(curves))
    aucs = []
    for (name, positive, score), color in zip(curves, colors, strict=True):
        label = wrap_label(name, 28, 2)
        if positive.all() or not positive.any():
            ax.plot(
                [],
                [],
                color=color,
                label=f"{label} (absent)" if not positive.any() else f"{label} (no negatives)",
            )
            continue
        fpr, tpr, _ = roc_curve(positive, score)
        auc = float(roc_auc_score(positive, score))
        aucs.append(auc)
        ax.plot(fpr, tpr, color=color, linewidth=1.8, label=f"{label} (AUC = {auc:.3f})")
    if not aucs:
        raise ValueError("a ROC curve needs positive and negative images; y_true holds a single class")
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.6", linewidth=1, label="chance")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("false positive rate (1 - specificity)")
    ax.set_ylabel("true positive rate (sensitivity)")
    if binary:
        ax.set_title(f"ROC curve: {wrap_label(classes[1], 30, 1)} vs {wrap_label(classes[0], 30, 1)}")
    else:
        title = "ROC curves (one-vs-rest)"
        if len(aucs) == len(curves):
            title += f"\nmacro AUC = {np.mean(aucs):.3f}"
        ax.set_title(title)
    ax.grid(True)
    _legend(ax, len(curves) + 1)
    return save_figure(fig, path)


@styled
def plot_pr_curves(
    y_true: ArrayLike, probs: ArrayLike, classes: Sequence[str], path: str | os.PathLike
) -> Path:
    """Precision-recall curve(s) with the average precision (AP) in the legend.

    Binary: the positive class ``classes[1]`` with its prevalence as the chance line. Multi-class: one
    one-vs-rest curve per class present in ``y_true``.

    Raises:
        ValueError: bad shapes (named), or no class with positive images.
    """
    y, p = _check_scores(y_true, probs, classes)
    curves = _one_vs_rest(y, p, classes)
    binary = p.shape[1] == 2
    fig = new_figure(5.6, 5.0)
    ax = fig.subplots()
    colors = ["tab:red"] if binary else class_colors(len(curves))
    drawn = 0
    for (name, positive, score), color in zip(curves, colors, strict=True):
        label = wrap_label(name, 28, 2)
        if not positive.any():
            ax.plot([], [], color=color, label=f"{label} (absent)")
            continue
        precision, recall, _ = precision_recall_curve(positive, score)
        ap = float(average_precision_score(positive, score))
        ax.plot(
            recall,
            precision,
            color=color,
            linewidth=1.8,
            drawstyle="steps-post",
            label=f"{label} (AP = {ap:.3f})",
        )
        drawn += 1
    if not drawn:
        raise ValueError(
            "a precision-recall curve needs positive images; the positive class is absent from y_true"
        )
    if binary:
        prevalence = float(np.mean(y == 1))
        ax.axhline(
            prevalence,
            linestyle="--",
            color="0.6",
            linewidth=1,
            label=f"chance (prevalence {prevalence:.2f})",
        )
        ax.set_title(f"Precision-recall: {wrap_label(classes[1], 40, 1)}")
    else:
        ax.set_title("Precision-recall curves (one-vs-rest)")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.03)
    ax.set_aspect("equal")
    ax.set_xlabel("recall (sensitivity)")
    ax.set_ylabel("precision (positive predictive value)")
    ax.grid(True)
    if binary:
        ax.legend(loc="lower left", frameon=True, framealpha=0.9)
    else:  # one-vs-rest PR curves can fill any corner: keep the legend beside the axes
        ax.legend(
            loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=8 if len(curves) > 6 else 9
        )
    return save_figure(fig, path)


@styled
def plot_reliability_diagram(
    y_true: ArrayLike, probs: ArrayLike, path: str | os.PathLike, n_bins: int = 15
) -> Path:
    """Reliability diagram: accuracy per confidence bin against the diagonal, ECE in the title, counts below.

    Bars show the accuracy of each equal-width bin of top-label confidence; the red part is the gap to the
    mean confidence of the bin (above the bar: over-confident). The lower panel is the histogram of
    confidences.

    Raises:
        ValueError: bad shapes (named), probabilities outside [0, 1], or ``n_bins < 1``.
    """
    fig = new_figure(5.4, 6.0)
    draw_reliability(fig, y_true, probs, n_bins)
    return save_figure(fig, path)


def draw_reliability(
    container: Figure | SubFigure,
    y_true: ArrayLike,
    probs: ArrayLike,
    n_bins: int = 15,
    subject: str = "Reliability diagram",
    legend: bool = True,
) -> None:
    """Draw the two panels of :func:`plot_reliability_diagram` into ``container`` (a figure, or one panel of a
    grid of them), titled ``subject (ECE = ..., n bins, N images)``.

    Raises:
        ValueError: as :func:`plot_reliability_diagram`.
    """
    y, p = _check_scores(y_true, probs)
    curve = reliability_curve(y, p, n_bins)  # the binning of the ECE reported in test_metrics.json
    ece = expected_calibration_error(y, p, n_bins)
    edges, counts = np.asarray(curve["bin_edges"]), np.asarray(curve["counts"])
    confidence = np.array([np.nan if c is None else c for c in curve["confidence"]])
    accuracy = np.array([np.nan if a is None else a for a in curve["accuracy"]])
    filled = counts > 0
    centers, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]

    top, bottom = container.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1], "hspace": 0.08})
    top.bar(
        centers[filled],
        accuracy[filled],
        width=width,
        color="tab:blue",
        alpha=0.8,
        edgecolor="0.15",
        linewidth=0.6,
        label="accuracy in bin",
    )
    gap_bottom = np.minimum(accuracy[filled], confidence[filled])
    # Gap drawn as a hatched outline (no fill) so it stays readable over the bar when under-confident.
    top.bar(
        centers[filled],
        np.abs(confidence[filled] - accuracy[filled]),
        bottom=gap_bottom,
        width=width,
        facecolor="none",
        edgecolor="tab:red",
        hatch="///",
        linewidth=1.0,
        label="gap to mean confidence",
    )
    top.plot([0, 1], [0, 1], linestyle="--", color="0.3", linewidth=1.2, label="perfect calibration")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1.02)
    top.set_ylabel("accuracy")
    top.set_title(f"{subject} (ECE = {ece:.3f}, {int(n_bins)} bins, {y.size} images)")
    if legend:
        top.legend(loc="upper left", frameon=False)
    top.grid(True)
    bottom.bar(centers, counts, width=width, color="0.55", edgecolor="0.2", linewidth=0.5)
    bottom.set_ylabel("images")
    integer_ticks(bottom.yaxis)
    bottom.set_xlabel("confidence (top-label probability)")
    bottom.grid(True, axis="y")
