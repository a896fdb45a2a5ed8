"""The figure of ``medclass validate`` for a multi-label model: a panel per label, a ROC curve per site, so a
reader sees at a glance which finding keeps its discrimination at which site; each curve marks the label's
stored operating point (the sensitivity and specificity every site is scored at)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from medclass.reporting.plots_common import class_colors, new_figure, save_figure, styled, wrap_label


@styled
def plot_label_roc_by_site(
    labels: Sequence[str],
    sites: dict[str, tuple[np.ndarray, np.ndarray]],
    thresholds: Sequence[float],
    path: str | os.PathLike,
) -> Path:
    """ROC curves, a panel per label and a line per site (its AUROC and n in the legend), the stored
    threshold's point marked; images whose label is uncertain are left out of that label's curve.

    Args:
        labels: the label names.
        sites: site name -> ``(truth (N, K) 1/0/NaN, probs (N, K))``.
        thresholds: each label's stored threshold.
        path: the PNG to write.
    """
    columns = min(3, len(labels))
    rows = math.ceil(len(labels) / columns)
    fig = new_figure(3.4 * columns + 0.4, 3.5 * rows + 0.3)
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
    colors = class_colors(len(sites))
    for j, (ax, name) in enumerate(zip(axes, labels, strict=False)):
        ax.plot([0, 1], [0, 1], linestyle="--", color="0.6", linewidth=1)
        for color, (site, (truth, probs)) in zip(colors, sites.items(), strict=True):
            known = ~np.isnan(truth[:, j])
            positive, score = truth[known, j] == 1, probs[known, j]
            if positive.all() or not positive.any():
                ax.plot([], [], color=color, label=f"{site}: not estimable (one class only)")
                continue
            fpr, tpr, _ = roc_curve(positive, score)
            auc = roc_auc_score(positive, score)
            ax.plot(fpr, tpr, color=color, linewidth=1.6, label=f"{site} (AUROC {auc:.3f}, n={known.sum()})")
            decided = score >= thresholds[j]
            ax.plot(
                (decided & ~positive).sum() / (~positive).sum(),
                (decided & positive).sum() / positive.sum(),
                marker="o",
                markersize=6,
                markeredgecolor="black",
                color=color,
                linestyle="none",
            )
        ax.set_title(f"{wrap_label(name, 30, 2)} (threshold {thresholds[j]:.3f})", fontsize=10)
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.01, 1.03)
        ax.set_aspect("equal")
        ax.grid(True)
        ax.set_xlabel("1 - specificity")
        ax.set_ylabel("sensitivity")
        ax.legend(loc="lower right", frameon=False, fontsize=7)
    for ax in axes[len(labels) :]:
        ax.set_visible(False)
    fig.suptitle("ROC per label and site (dot: the stored operating point)", fontsize=11)
    return save_figure(fig, path)
