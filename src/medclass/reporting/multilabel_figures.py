"""The figures and tables of a multi-label run's report, from its saved files: per-label ROC and precision-recall
curves (one figure each, a line per label), a reliability diagram per label (one figure, a panel per label), the
co-occurrence of errors between labels and the most confident errors of each label as thumbnails.

The scores come from ``predictions_test.csv`` (``label`` holds each image's labels as text, ``p_<label>`` the
probabilities, one 0/1 column per label the decisions at the stored thresholds); the label list is the one in
``test_metrics.json``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

from medclass.data.files import file_problem
from medclass.data.multilabel import label_matrix
from medclass.data.preprocess import PreprocessSettings
from medclass.reporting import plots
from medclass.reporting.figures import Figures, LazyImages
from medclass.reporting.plots_common import (
    check_columns,
    class_colors,
    new_figure,
    save_figure,
    styled,
    wrap_label,
)
from medclass.reporting.plots_eval import draw_reliability
from medclass.runs import TEST_PREDICTIONS_FILE, RunFiles

ROC_FIGURE = "label_roc"
PR_FIGURE = "label_pr"
ERRORS_FIGURE = "label_errors"
RELIABILITY_FIGURE = "label_reliability"
# Panels per row of the per-label reliability figure.
RELIABILITY_COLUMNS = 3
# Thumbnails of the most confident errors shown per label (one row of the figure per label).
ERRORS_PER_LABEL = 6


@dataclass(frozen=True)
class LabelScores:
    """The test split of a multi-label run: ``truth`` (N, K) 1/0/NaN (uncertain), ``probs`` and ``decisions``
    (N, K), the label names and the image paths."""

    labels: list[str]
    truth: np.ndarray
    probs: np.ndarray
    decisions: np.ndarray
    paths: list[str]


def label_scores(run: RunFiles) -> LabelScores:
    """The per-label truth, probabilities and decisions of the test split from predictions_test.csv.

    Raises:
        ValueError: no predictions_test.csv or test_metrics.json, or a column missing (named).
    """
    table, metrics = run.predictions, run.test_metrics
    if table is None or table.empty or not metrics:
        raise ValueError(f"no {TEST_PREDICTIONS_FILE} and test_metrics.json in the run folder")
    labels = [str(name) for name in metrics["labels"]]
    check_columns(table, ["path", "label", *(f"p_{n}" for n in labels), *labels], TEST_PREDICTIONS_FILE)
    texts = table["label"].fillna("").astype(str).tolist()
    return LabelScores(
        labels=labels,
        truth=label_matrix(texts, labels, str(run.run_dir / TEST_PREDICTIONS_FILE)).astype(float),
        probs=table[[f"p_{n}" for n in labels]].to_numpy(dtype=float),
        decisions=table[labels].to_numpy(dtype=float),
        paths=table["path"].astype(str).tolist(),
    )


def label_errors(scores: LabelScores) -> np.ndarray:
    """``(N, K)`` booleans: the decision on a label differs from its known truth (uncertain ones are no error)."""
    known = ~np.isnan(scores.truth)
    return known & (scores.decisions != np.nan_to_num(scores.truth))


def error_cooccurrence(scores: LabelScores) -> pd.DataFrame:
    """Label x label: row A, column B holds the share of label A's errors on images where label B is wrong too
    (the diagonal is 1 where A has errors); a row of a label without errors is NaN. ``errors`` counts them."""
    wrong = label_errors(scores).astype(float)
    both = wrong.T @ wrong  # (K, K): images where both labels are wrong
    count = np.diag(both)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(count[:, None] > 0, both / count[:, None], np.nan)
    frame = pd.DataFrame(share, index=scores.labels, columns=scores.labels)
    frame.insert(0, "errors", count.astype(int))
    return frame


@styled
def plot_label_curves(scores: LabelScores, path: str | os.PathLike, kind: str) -> Path:
    """ROC (``kind="roc"``) or precision-recall (``"pr"``) curves, a line per label with its AUC or AP in the
    legend; images whose label is uncertain are left out of that label's curve.

    Raises:
        ValueError: no label has both positive and negative known images.
    """
    fig = new_figure(6.4, 5.0)
    ax = fig.subplots()
    drawn = 0
    for j, (name, color) in enumerate(zip(scores.labels, class_colors(len(scores.labels)), strict=True)):
        known = ~np.isnan(scores.truth[:, j])
        truth, prob = scores.truth[known, j] == 1, scores.probs[known, j]
        label = wrap_label(name, 28, 2)
        if truth.all() or not truth.any():
            ax.plot([], [], color=color, label=f"{label} (one class only)")
            continue
        if kind == "roc":
            x, y, _ = roc_curve(truth, prob)
            text = f"AUC = {roc_auc_score(truth, prob):.3f}"
        else:
            y, x, _ = precision_recall_curve(truth, prob)
            text = f"AP = {average_precision_score(truth, prob):.3f}"
        ax.plot(x, y, color=color, linewidth=1.8, label=f"{label} ({text})")
        drawn += 1
    if not drawn:
        raise ValueError("no label has both positive and negative test images")
    if kind == "roc":
        ax.plot([0, 1], [0, 1], linestyle="--", color="0.6", linewidth=1, label="chance")
        ax.set_xlabel("false positive rate (1 - specificity)")
        ax.set_ylabel("true positive rate (sensitivity)")
        ax.set_title("ROC curve per label")
    else:
        ax.set_xlabel("recall (sensitivity)")
        ax.set_ylabel("precision (positive predictive value)")
        ax.set_title("Precision-recall curve per label")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.03)
    ax.set_aspect("equal")
    ax.grid(True)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=8)
    return save_figure(fig, path)


@styled
def plot_label_reliability(
    scores: LabelScores, path: str | os.PathLike, temperatures: dict[str, float] | None = None
) -> Path:
    """A reliability diagram per label (the single-label diagram of
    :func:`medclass.reporting.plots_eval.plot_reliability_diagram`, one panel each) of the label's own
    ``[absent, present]`` probabilities, so each panel's ECE is the label's ``ece`` in test_metrics.json;
    uncertain images are left out. ``temperatures``: shown in the panel title where not 1.

    Raises:
        ValueError: no label has a known test value.
    """
    drawn = [j for j in range(len(scores.labels)) if (~np.isnan(scores.truth[:, j])).any()]
    if not drawn:
        raise ValueError("no label has a known test value")
    columns = min(RELIABILITY_COLUMNS, len(drawn))
    rows = -(-len(drawn) // columns)
    fig = new_figure(4.6 * columns, 5.2 * rows)
    panels = np.atleast_1d(fig.subfigures(rows, columns)).ravel()
    for panel, j in zip(panels, drawn, strict=False):
        name = scores.labels[j]
        known = ~np.isnan(scores.truth[:, j])
        present = scores.probs[known, j]
        temperature = (temperatures or {}).get(name, 1.0)
        subject = wrap_label(name, 24, 1) + (f", T = {temperature:.3g}" if temperature != 1.0 else "")
        draw_reliability(
            panel,
            (scores.truth[known, j] == 1).astype(np.int64),
            np.stack([1 - present, present], axis=1),
            subject=subject,
            legend=panel is panels[0],
        )
    return save_figure(fig, path)


def confident_errors(scores: LabelScores, per_label: int = ERRORS_PER_LABEL) -> list[tuple[str, int, str]]:
    """``(label, row, kind)`` of the most confident errors of each label, most confident first: a false
    positive (``FP``) by its probability, a false negative (``FN``) by one minus it."""
    wrong = label_errors(scores)
    picked = []
    for j, name in enumerate(scores.labels):
        rows = np.flatnonzero(wrong[:, j])
        positive = scores.decisions[rows, j] == 1
        confidence = np.where(positive, scores.probs[rows, j], 1.0 - scores.probs[rows, j])
        for k in np.argsort(-confidence, kind="stable")[:per_label]:
            picked.append((name, int(rows[k]), "FP" if positive[k] else "FN"))
    return picked


def plot_label_errors(run: RunFiles, scores: LabelScores, path: Path) -> Path:
    """Thumbnails of the most confident test errors per label, titled ``label FP/FN p=...``."""
    picked = confident_errors(scores)
    if not picked:
        raise ValueError("no label has a test error")
    if not any(file_problem(scores.paths[row]) is None for _, row, _ in picked):
        raise ValueError("none of the test images shown can be read any more (moved or deleted?)")
    settings = PreprocessSettings.from_dict(run.config.get("data", {}))
    images = LazyImages([scores.paths[row] for _, row, _ in picked], settings)
    column = {name: j for j, name in enumerate(scores.labels)}
    titles = [
        f"{name} {kind} p={scores.probs[row, column[name]]:.2f}\n{Path(scores.paths[row]).name}"
        for name, row, kind in picked
    ]
    return plots.plot_image_grid(
        images,
        titles,
        path,
        ncols=ERRORS_PER_LABEL,
        title="Most confident test errors per label",
        title_colors=["tab:red"] * len(picked),
    )


def write_multilabel_figures(run: RunFiles) -> Figures:
    """Draw the figures of a multi-label run's report into ``run.plots_dir`` (each skipped with its reason when
    its inputs are missing)."""
    out = run.plots_dir
    figures = Figures()

    draw = figures.drawer(out)

    if run.metrics is not None:
        draw("learning_curves", lambda p: plots.plot_learning_curves(run.metrics, p, run.best_epoch))
    else:
        figures.skipped["learning_curves"] = "no metrics.csv in the run folder"
    try:
        scores = label_scores(run)
    except ValueError as exc:
        for name in (ROC_FIGURE, PR_FIGURE, RELIABILITY_FIGURE, ERRORS_FIGURE):
            figures.skipped[name] = str(exc)
        return figures
    per_label = run.test_metrics.get("per_label") or {}
    temperatures = {
        name: float((block.get("calibration") or {}).get("temperature", 1.0))
        for name, block in per_label.items()
    }
    draw(ROC_FIGURE, lambda p: plot_label_curves(scores, p, "roc"))
    draw(PR_FIGURE, lambda p: plot_label_curves(scores, p, "pr"))
    draw(RELIABILITY_FIGURE, lambda p: plot_label_reliability(scores, p, temperatures))
    draw(ERRORS_FIGURE, lambda p: plot_label_errors(run, scores, p))
    return figures
