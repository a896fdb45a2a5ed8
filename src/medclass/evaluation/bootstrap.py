"""Stratified percentile-bootstrap confidence intervals for the headline classification metrics.

Each resample draws, within every true class separately, as many images (with replacement) as that class
holds, so every resample keeps the class counts of the test set; this keeps per-class sensitivity and AUROC
defined in every resample, which a plain bootstrap of a small medical test set does not. The interval is the
percentile interval of the resampled statistics (Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993,
ch. 13).

Everything is vectorised over resamples: a resample is only a vector of per-image multiplicities, confusion
matrices come from one ``np.bincount`` per chunk of resamples, and AUROC from a weighted Mann-Whitney U over
the scores sorted once per class.

With ``clusters`` (a group code per image, e.g. the patient), the units resampled are the groups (a cluster
bootstrap, Field & Welsh, *JRSS B* 69, 2007): each resample draws, within every stratum of groups (groups
sharing their most frequent true class), as many groups as the stratum holds, and an image counts as often as
its group was drawn. Correlated images of one patient then move together, so the intervals are not narrowed
by counting them as independent evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from medclass.evaluation.metrics import (
    check_classification_inputs,
    classification_metrics,
)
from medclass.inference.decision import decide

__all__ = ["BOOTSTRAP_SEED", "bootstrap_ci"]

# The one seed of every CI medclass reports (train's test evaluation, evaluate, ensemble), not the run's seed:
# the same model and test split give the same intervals whichever command scores them. Recorded as ``ci.seed``.
BOOTSTRAP_SEED = 0

# Resamples are processed in chunks of about this many (resample, image) cells to bound memory (~50 MB).
_CELLS_PER_CHUNK = 2_000_000


def _draw_counts(
    rng: np.random.Generator, class_indices: list[np.ndarray], n: int, n_rows: int
) -> np.ndarray:
    """Multiplicity of every image in ``n_rows`` stratified resamples: array ``(n_rows, n)``."""
    offsets = (np.arange(n_rows, dtype=np.int64) * n)[:, None]
    codes = [
        (offsets + members[rng.integers(0, members.size, size=(n_rows, members.size))]).ravel()
        for members in class_indices
    ]
    return np.bincount(np.concatenate(codes), minlength=n_rows * n).reshape(n_rows, n)


def _group_strata(y: np.ndarray, clusters: np.ndarray, k: int) -> tuple[list[np.ndarray], int]:
    """Strata of groups (by each group's most frequent class) for :func:`_draw_counts` over groups."""
    n_groups = int(clusters.max()) + 1
    label_counts = np.zeros((n_groups, k), dtype=np.int64)
    np.add.at(label_counts, (clusters, y), 1)
    stratum = np.argmax(label_counts, axis=1)
    return [np.flatnonzero(stratum == j) for j in range(k) if (stratum == j).any()], n_groups


def _confusion_matrices(counts: np.ndarray, y: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """Weighted confusion matrices ``(B, K, K)`` from multiplicities ``(B, N)``."""
    b = counts.shape[0]
    cell = y * k + y_pred  # (N,)
    codes = (np.arange(b)[:, None] * (k * k) + cell[None, :]).ravel()
    return np.bincount(codes, weights=counts.ravel(), minlength=b * k * k).reshape(b, k, k)


class _AucPlan:
    """Scores of one class sorted once, with tie groups, so each resample's AUC is a weighted U statistic."""

    def __init__(self, positives: np.ndarray, scores: np.ndarray) -> None:
        self.order = np.argsort(scores, kind="stable")
        s = scores[self.order]
        self.starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
        self.is_pos = positives[self.order]

    def auc(self, counts: np.ndarray) -> np.ndarray:
        w = counts[:, self.order].astype(float)
        w_pos = np.add.reduceat(np.where(self.is_pos, w, 0.0), self.starts, axis=1)  # (B, groups)
        w_neg = np.add.reduceat(np.where(self.is_pos, 0.0, w), self.starts, axis=1)
        below = np.cumsum(w_neg, axis=1) - w_neg  # negatives strictly below each tie group
        u = np.sum(w_pos * (below + 0.5 * w_neg), axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):  # NaN: a resample without one of the classes
            return u / (w_pos.sum(axis=1) * w_neg.sum(axis=1))


def _interval(values: np.ndarray, point: float | None, confidence: float) -> dict[str, float | None]:
    # NaN marks a resample where the metric is undefined (only a cluster bootstrap can lose a class).
    values = values[np.isfinite(values)]
    if point is None or values.size == 0:
        return {"value": None if point is None else float(point), "ci_low": None, "ci_high": None}
    alpha = 1.0 - confidence
    low, high = np.quantile(values, [alpha / 2.0, 1.0 - alpha / 2.0])
    return {"value": float(point), "ci_low": float(low), "ci_high": float(high)}


def bootstrap_ci(
    y_true: ArrayLike,
    probs: ArrayLike,
    classes: Sequence[str],
    n_resamples: int = 1000,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = 0.95,
    threshold: float | None = None,
    clusters: ArrayLike | None = None,
    positive_index: int = 1,
) -> dict[str, Any]:
    """Stratified percentile-bootstrap confidence intervals (of images, or of groups with ``clusters``).

    Args:
        y_true: true class indices, shape ``(N,)``.
        probs: predicted scores, shape ``(N, K)``.
        classes: class names (binary: ``classes[1]`` is the positive class).
        n_resamples: number of bootstrap resamples.
        seed: seed of the ``numpy`` generator; the same inputs and seed give the same intervals.
        confidence: coverage of the two-sided interval, e.g. 0.95 for the 2.5 and 97.5 percentiles.
        threshold, positive_index: the binary decision threshold and the column it applies to, as in
            :func:`~medclass.evaluation.metrics.classification_metrics`.
        clusters: group code per image ``(N,)`` (``0 .. G-1``, see
            :func:`~medclass.evaluation.groups.group_codes`): resample groups, not images.

    Returns:
        ``{"accuracy", "balanced_accuracy", "macro_f1", "auroc": {"value", "ci_low", "ci_high"},
        "per_class": {name: {"sensitivity": {...}, "specificity": {...}, "precision": {...}}}, "n_resamples", "seed", "confidence",
        "method", "unit"}`` (``unit``: ``image`` or ``group``; with groups also ``n_groups``). ``value`` is the point estimate on all images (equal to ``classification_metrics``);
        every entry is ``None`` where the metric is undefined (AUROC with a class absent, specificity with
        a single class present).

    Raises:
        ValueError: bad shapes (named in the message), ``n_resamples < 1`` or ``confidence`` outside (0, 1).

    Example:
        >>> ci = bootstrap_ci([0, 0, 1, 1], [[.9, .1], [.6, .4], [.3, .7], [.2, .8]], ["no", "yes"], 200)
        >>> ci["accuracy"]
        {'value': 1.0, 'ci_low': 1.0, 'ci_high': 1.0}
    """
    y, p = check_classification_inputs(y_true, probs, classes)
    if int(n_resamples) != n_resamples or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    n_resamples = int(n_resamples)
    names = [str(c) for c in classes]
    n, k = p.shape
    point = classification_metrics(y, p, names, threshold, positive_index)
    y_pred = decide(p, threshold, positive_index)

    support = np.bincount(y, minlength=k).astype(float)
    present = support > 0
    class_indices = [np.flatnonzero(y == j) for j in range(k) if present[j]]
    codes = None if clusters is None else np.asarray(clusters, dtype=np.int64)
    if codes is not None:
        if codes.shape != (n,):
            raise ValueError(f"clusters must have shape ({n},) to match the scores, got {codes.shape}")
        class_indices, n_groups = _group_strata(y, codes, k)
    auc_plans: list[_AucPlan] | None = None
    if point["auroc"] is not None:
        # Binary: AUC of the positive-class score; multi-class: one-vs-rest per class, macro mean.
        columns = [1] if k == 2 else list(range(k))
        auc_plans = [_AucPlan(y == j, p[:, j]) for j in columns]

    rng = np.random.default_rng(seed)
    units = n if codes is None else n_groups
    chunk = max(1, min(n_resamples, _CELLS_PER_CHUNK // max(n, units)))
    acc, bal, f1, auc = [], [], [], []
    tn_fp: list[np.ndarray] = []
    sens: list[np.ndarray] = []
    prec: list[np.ndarray] = []
    for start in range(0, n_resamples, chunk):
        counts = _draw_counts(rng, class_indices, units, min(chunk, n_resamples - start))
        if codes is not None:
            counts = counts[:, codes]  # an image counts as often as its group was drawn
        cm = _confusion_matrices(counts, y, y_pred, k)
        tp = np.diagonal(cm, axis1=1, axis2=2)  # (B, K)
        predicted = cm.sum(axis=1)
        # Per-resample support: constant for an image bootstrap, varying with the groups drawn otherwise.
        n_b = counts.sum(axis=1)[:, None].astype(float)
        sup_b = cm.sum(axis=2)
        fp, fn = predicted - tp, sup_b - tp
        acc.append(tp.sum(axis=1) / n_b[:, 0])
        has = sup_b[:, present] > 0
        recall = np.divide(tp[:, present], sup_b[:, present], out=np.zeros_like(has, float), where=has)
        bal.append(np.where(has.all(axis=1), recall.mean(axis=1), np.nan))
        den = 2 * tp + fp + fn
        f1.append(np.divide(2 * tp, den, out=np.zeros_like(tp), where=den > 0).mean(axis=1))
        # Precision (binary: PPV of one class, NPV of the other); NaN where nothing was predicted as the class.
        none_predicted = np.where(predicted > 0, 0.0, np.nan)
        prec.append(np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0) + none_predicted)
        lost = np.where(present & (sup_b > 0), 0.0, np.nan)  # NaN where a present class was not drawn
        sens.append(np.divide(tp, sup_b, out=np.zeros_like(tp), where=sup_b > 0) + lost)
        negatives = n_b - sup_b
        tn = negatives - fp
        no_neg = np.where(negatives > 0, 0.0, np.nan)
        tn_fp.append(np.divide(tn, negatives, out=np.zeros_like(tn), where=negatives > 0) + no_neg)
        if auc_plans is not None:
            auc.append(np.mean([plan.auc(counts) for plan in auc_plans], axis=0))

    sens_all, spec_all, prec_all = np.concatenate(sens), np.concatenate(tn_fp), np.concatenate(prec)
    result: dict[str, Any] = {
        "accuracy": _interval(np.concatenate(acc), point["accuracy"], confidence),
        "balanced_accuracy": _interval(np.concatenate(bal), point["balanced_accuracy"], confidence),
        "macro_f1": _interval(np.concatenate(f1), point["macro_f1"], confidence),
        "auroc": _interval(np.concatenate(auc) if auc else np.empty(0), point["auroc"], confidence),
        "per_class": {
            name: {
                "sensitivity": _interval(sens_all[:, j], point["per_class"][name]["sensitivity"], confidence),
                "specificity": _interval(spec_all[:, j], point["per_class"][name]["specificity"], confidence),
                "precision": _interval(prec_all[:, j], point["per_class"][name]["precision"], confidence),
            }
            for j, name in enumerate(names)
        },
        "n_resamples": n_resamples,
        "seed": int(seed),
        "confidence": float(confidence),
        "method": "stratified percentile bootstrap"
        if codes is None
        else "cluster percentile bootstrap (groups resampled within strata of their majority class)",
        "unit": "image" if codes is None else "group",
    }
    if codes is not None:
        result["n_groups"] = int(n_groups)
    return result
