"""Classification metrics as pure functions: label and probability arrays in, plain Python numbers out.

Conventions used throughout :mod:`medclass.evaluation`:

* ``y_true`` is an integer array of shape ``(N,)`` holding class indices ``0 .. K-1``.
* ``probs`` is a float array of shape ``(N, K)``; column ``k`` is the score of class ``k`` (usually softmax
  probabilities, but only their order matters for AUROC).
* Binary problems (``K == 2``): the *positive* class is index 1 (``classes[1]``, e.g. ``"tumor"``); AUROC is
  the AUC of ``probs[:, 1]``. Predictions follow the one decision rule,
  :func:`medclass.inference.decision.decide`: with a ``threshold``, positive when
  ``probs[:, positive_index] >= threshold`` (column 1 unless given);
  without one the argmax.
* Every per-class quantity is one-vs-rest: for class ``k`` the positives are the images whose true class is
  ``k``.
  ``sensitivity`` is the recall of the class, TP / (TP + FN); ``specificity`` is TN / (TN + FP).
* Precision, recall and F1 follow scikit-learn with ``zero_division=0`` (so they match
  :func:`classification_report_text`); sensitivity, specificity, AUROC and average precision are ``None``
  when undefined (a class absent from ``y_true``, or no negatives), because 0 would read as a real result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score
from sklearn.metrics import classification_report as _sk_classification_report

from medclass.inference.decision import decide

__all__ = [
    "binary_auc",
    "check_classification_inputs",
    "classification_metrics",
    "classification_report_text",
    "confusion_matrix_counts",
]


def _check_probs(probs: ArrayLike, name: str = "probs") -> np.ndarray:
    p = np.asarray(probs, dtype=float)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] < 2:
        raise ValueError(
            f"{name} must have shape (N, K) with N >= 1 images and K >= 2 classes, got shape {p.shape}"
        )
    if not np.all(np.isfinite(p)):
        raise ValueError(f"{name} of shape {p.shape} contains NaN or infinite values")
    return p


def _check_labels(y_true: ArrayLike, n: int, n_classes: int, name: str = "y_true") -> np.ndarray:
    raw = np.asarray(y_true)
    if raw.ndim != 1 or raw.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},) to match the scores, got shape {raw.shape}")
    if raw.dtype == bool:
        raw = raw.astype(np.int64)
    if not np.issubdtype(raw.dtype, np.number):
        raise ValueError(f"{name} must hold integer class indices, got dtype {raw.dtype}")
    y = raw.astype(np.int64)
    if not np.array_equal(y, raw):
        raise ValueError(f"{name} must hold integer class indices, got non-integer values")
    bad = np.unique(y[(y < 0) | (y >= n_classes)])
    if bad.size:
        raise ValueError(
            f"{name} holds class indices {bad[:10].tolist()} outside 0..{n_classes - 1} "
            f"(scores have {n_classes} columns)"
        )
    return y


def check_classification_inputs(
    y_true: ArrayLike, probs: ArrayLike, classes: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert ``(y_true, probs[, classes])``.

    Args:
        y_true: class indices, shape ``(N,)``.
        probs: scores, shape ``(N, K)``, finite.
        classes: optional class names; must be ``K`` distinct names.

    Returns:
        ``(y, p)``: ``int64`` array ``(N,)`` and ``float64`` array ``(N, K)``.

    Raises:
        ValueError: naming the offending shape or values.
    """
    p = _check_probs(probs)
    y = _check_labels(y_true, p.shape[0], p.shape[1])
    if classes is not None:
        names = list(classes)
        if len(names) != p.shape[1]:
            raise ValueError(
                f"classes has {len(names)} names but probs has shape {p.shape} ({p.shape[1]} columns)"
            )
        if len(set(map(str, names))) != len(names):
            raise ValueError(f"classes must be distinct, got {names}")
    return y, p


def confusion_matrix_counts(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``K x K`` confusion matrix of counts (rows = true class, columns = predicted) via one ``bincount``."""
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )


def binary_auc(y_positive: ArrayLike, scores: ArrayLike) -> float | None:
    """Area under the ROC curve from ranks (Mann-Whitney U), ties counted as one half.

    Args:
        y_positive: boolean (or 0/1) array ``(N,)``, True for the positive images.
        scores: array ``(N,)``, higher means more likely positive.

    Returns:
        The AUC in ``[0, 1]``, or ``None`` when there are no positives or no negatives.
    """
    pos = np.asarray(y_positive).astype(bool)
    s = np.asarray(scores, dtype=float)
    if pos.shape != s.shape or s.ndim != 1:
        raise ValueError(f"y_positive and scores must both have shape (N,), got {pos.shape} and {s.shape}")
    n_pos = int(pos.sum())
    n_neg = pos.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(s)  # average ranks for ties -> each tied pair counts 1/2
    u = ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def _safe_div(num: float, den: float) -> float:
    return float(num / den) if den > 0 else 0.0


def classification_metrics(
    y_true: ArrayLike,
    probs: ArrayLike,
    classes: Sequence[str],
    threshold: float | None = None,
    positive_index: int = 1,
) -> dict[str, Any]:
    """Summary metrics of a classifier on one set of images.

    Args:
        y_true: true class indices, shape ``(N,)``.
        probs: predicted scores, shape ``(N, K)``; ``K == len(classes)``.
        classes: class names in index order (binary: ``classes[1]`` is the positive class).
        threshold: binary only; predict class ``positive_index`` when ``probs[:, positive_index] >= threshold``,
            else the other class (default: argmax).
        positive_index: binary: the column the threshold applies to (the declared positive class).

    Returns:
        A JSON-ready dict with keys

        * ``n``, ``classes``, ``threshold`` (as given, ``None`` for argmax);
        * ``accuracy``; ``balanced_accuracy`` (mean recall over the classes present in ``y_true``, as
          :func:`sklearn.metrics.balanced_accuracy_score`);
        * ``macro_f1`` (unweighted mean F1 over all ``K`` classes, ``zero_division=0``) and ``weighted_f1``
          (weighted by support);
        * ``auroc``: binary, the AUC of ``probs[:, 1]``; multi-class, the macro mean of the one-vs-rest AUCs;
          ``None`` when a class is absent from ``y_true``;
        * ``confusion_matrix``: list of lists, rows = true class, columns = predicted class;
        * ``per_class``: ``{name: {precision, recall, f1, sensitivity, specificity, support, pr_auc,
          auroc}}``, one-vs-rest; ``pr_auc`` is the average precision of ``probs[:, k]``.

    Raises:
        ValueError: a shape mismatch (the message names the shapes), labels outside ``0..K-1``, or a threshold
            for a multi-class problem.

    Example:
        >>> m = classification_metrics([0, 1, 1], [[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]], ["normal", "tumor"])
        >>> round(m["accuracy"], 3), m["auroc"], m["confusion_matrix"]
        (0.667, 1.0, [[1, 0], [1, 1]])
    """
    y, p = check_classification_inputs(y_true, probs, classes)
    names = [str(c) for c in classes]
    n, k = p.shape
    y_pred = decide(p, threshold, positive_index)
    cm = confusion_matrix_counts(y, y_pred, k)

    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1).astype(float)
    predicted = cm.sum(axis=0).astype(float)
    fp = predicted - tp
    fn = support - tp
    tn = n - tp - fp - fn

    per_class: dict[str, dict[str, Any]] = {}
    f1s = np.zeros(k)
    aurocs: list[float | None] = []
    for j, name in enumerate(names):
        precision = _safe_div(tp[j], predicted[j])
        recall = _safe_div(tp[j], support[j])
        f1s[j] = _safe_div(2 * tp[j], 2 * tp[j] + fp[j] + fn[j])
        positives = y == j
        has_pos, has_neg = bool(positives.any()), bool((~positives).any())
        auc = binary_auc(positives, p[:, j])
        aurocs.append(auc)
        per_class[name] = {
            "precision": precision,
            "recall": recall,
            "f1": float(f1s[j]),
            "sensitivity": recall if has_pos else None,
            "specificity": float(tn[j] / (tn[j] + fp[j])) if has_neg else None,
            "support": int(support[j]),
            "pr_auc": float(average_precision_score(positives, p[:, j])) if has_pos else None,
            "auroc": auc,
        }

    present = support > 0
    if k == 2:
        auroc = aurocs[1]
    elif any(a is None for a in aurocs):
        auroc = None
    else:
        auroc = float(np.mean(aurocs))

    return {
        "n": int(n),
        "classes": names,
        "threshold": None if threshold is None else float(threshold),
        "accuracy": float(tp.sum() / n),
        "balanced_accuracy": float(np.mean(tp[present] / support[present])),
        "macro_f1": float(f1s.mean()),
        "weighted_f1": float(np.sum(f1s * support) / n),
        "auroc": auroc,
        "confusion_matrix": cm.astype(int).tolist(),
        "per_class": per_class,
    }


def classification_report_text(
    y_true: ArrayLike,
    probs: ArrayLike,
    classes: Sequence[str],
    threshold: float | None = None,
    *,
    positive_index: int = 1,
    digits: int = 4,
) -> str:
    """scikit-learn style text report (precision, recall, F1, support per class, then averages).

    Every class in ``classes`` gets a row, also one absent from ``y_true`` (its values are 0, as
    ``zero_division=0``). See :func:`classification_metrics` for the threshold semantics.

    Raises:
        ValueError: as :func:`classification_metrics`.
    """
    y, p = check_classification_inputs(y_true, probs, classes)
    y_pred = decide(p, threshold, positive_index)
    return _sk_classification_report(
        y,
        y_pred,
        labels=list(range(p.shape[1])),
        target_names=[str(c) for c in classes],
        zero_division=0,
        digits=digits,
    )
