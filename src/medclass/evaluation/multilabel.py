"""Multi-label metrics (arrays in, numbers out): per-label AUROC, average precision, sensitivity and specificity
at each label's threshold, macro/micro AUROC and mAP, each with a percentile-bootstrap 95% CI, and the per-label
operating points chosen on validation scores.

Targets are ``(N, K)`` arrays: 1 positive, 0 negative, NaN uncertain (left out of that label's figures, as the
loss leaves it out). A resample draws whole images (rows), so the labels of one image stay together and the
correlation between findings is kept; with ``clusters`` whole groups (patients) are drawn. Every figure of a
resample is a weighted statistic of the multiplicities, computed for all resamples at once (the AUROC with the
sorted-once U statistic of :mod:`medclass.evaluation.bootstrap`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from medclass.evaluation.bootstrap import _AucPlan, _draw_counts, _interval
from medclass.evaluation.calibration import fit_label_temperatures, label_calibration_error
from medclass.evaluation.thresholds import choose_threshold
from medclass.inference.decision import (
    ECE_BINS,
    LabelRule,
    MultilabelDecision,
    decide_labels,
    label_probabilities,
)

__all__ = ["GAP_MEASURES", "choose_label_rules", "fit_label_decision", "label_gaps", "multilabel_scores"]

_CELLS_PER_CHUNK = 2_000_000
# The per-label figures whose gap between two sets :func:`label_gaps` measures (average precision is left out:
# it moves with the prevalence, so a gap between sites of different prevalence is not a loss of performance).
GAP_MEASURES = ("auroc", "sensitivity", "specificity")


def _check(y_true: ArrayLike, probs: ArrayLike, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(probs, dtype=np.float64)
    if y.ndim != 2 or y.shape != p.shape or y.shape[1] != len(labels):
        raise ValueError(
            f"y_true and probs must both be (N, K) with K = {len(labels)} labels, got {y.shape} and {p.shape}"
        )
    return y, p


def choose_label_rules(
    y_true: ArrayLike, probs: ArrayLike, labels: Sequence[str], rule: str, split: str = "val"
) -> dict[str, LabelRule]:
    """Each label's threshold chosen by ``rule`` (``youden``, ``sensitivity=0.95``, ...) on its known values.

    Raises:
        ValueError: a bad rule, or a label without positives or negatives in the split (named).
    """
    y, p = _check(y_true, probs, labels)
    rules = {}
    for j, name in enumerate(labels):
        known = ~np.isnan(y[:, j])
        truth, scores = y[known, j] == 1, p[known, j]
        if truth.all() or not truth.any():
            raise ValueError(
                f"label {name!r} has no {'negative' if truth.all() else 'positive'} image in {split}"
            )
        threshold = float(choose_threshold(rule, truth.astype(int), scores))
        predicted = scores >= threshold
        rules[name] = LabelRule(
            threshold=threshold,
            rule=rule,
            chosen_on=split,
            n=int(known.sum()),
            sensitivity=float((predicted & truth).sum() / truth.sum()),
            specificity=float((~predicted & ~truth).sum() / (~truth).sum()),
        )
    return rules


def fit_label_decision(
    logits: ArrayLike,
    y_true: ArrayLike,
    labels: Sequence[str],
    rule: str,
    calibrate: bool = False,
    split: str = "val",
) -> MultilabelDecision:
    """A multi-label model's decision fitted on held-out logits: with ``calibrate`` a temperature per label
    first (:func:`~medclass.evaluation.calibration.fit_label_temperatures`), then each label's threshold by
    ``rule`` on the calibrated probabilities, as the single-label path chooses its threshold after the
    temperature. Each label records its ECE on ``split`` before and after its temperature.

    Raises:
        ValueError: as :func:`choose_label_rules`.
    """
    y, z = _check(y_true, logits, labels)
    fitted = fit_label_temperatures(z, y) if calibrate else [(1.0, None)] * len(labels)
    temperatures = np.array([t for t, _ in fitted])
    probs = label_probabilities(z, temperatures)
    raw = label_probabilities(z)
    rules = choose_label_rules(y, probs, labels, rule, split)
    for j, (name, (temperature, kept)) in enumerate(zip(labels, fitted, strict=True)):
        rules[name].temperature, rules[name].temperature_kept = float(temperature), kept
        rules[name].ece_before = label_calibration_error(y[:, j], raw[:, j], ECE_BINS)
        rules[name].ece_after = label_calibration_error(y[:, j], probs[:, j], ECE_BINS)
    return MultilabelDecision(rules)


class _ApPlan:
    """Scores of one label sorted once (descending, tie groups), so each resample's average precision is
    ``sum_t precision(t) * (recall(t) - recall(t-1))`` over the distinct thresholds, as scikit-learn defines it."""

    def __init__(self, positives: np.ndarray, scores: np.ndarray) -> None:
        self.order = np.argsort(-scores, kind="stable")
        s = scores[self.order]
        self.ends = np.r_[np.flatnonzero(s[1:] != s[:-1]), len(s) - 1]
        self.is_pos = positives[self.order]

    def ap(self, counts: np.ndarray) -> np.ndarray:
        w = counts[:, self.order].astype(float)
        tp = np.cumsum(np.where(self.is_pos, w, 0.0), axis=1)[:, self.ends]
        seen = np.cumsum(w, axis=1)[:, self.ends]
        total = tp[:, -1:]
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(seen > 0, tp / seen, 0.0)
            recall_step = np.diff(tp, axis=1, prepend=0.0) / total
            return np.where(total[:, 0] > 0, np.sum(precision * recall_step, axis=1), np.nan)


def _rates(counts: np.ndarray, truth: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted sensitivity and specificity per resample (NaN without positives or negatives)."""
    pos = counts @ truth.astype(float)
    neg = counts @ (~truth).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        sensitivity = (counts @ (truth & predicted).astype(float)) / pos
        specificity = (counts @ (~truth & ~predicted).astype(float)) / neg
    return np.where(pos > 0, sensitivity, np.nan), np.where(neg > 0, specificity, np.nan)


def _figures(
    counts: np.ndarray, y: np.ndarray, p: np.ndarray, thresholds: np.ndarray
) -> dict[str, np.ndarray]:
    """Every figure for each row of multiplicities ``counts`` ``(B, N)``: ``{name: (B,) or (B, K)}``."""
    k = y.shape[1]
    decided = decide_labels(p, thresholds)
    auroc, ap, sens, spec = (np.full((len(counts), k), np.nan) for _ in range(4))
    flat_pos, flat_scores, flat_cols = [], [], []
    for j in range(k):
        known = np.flatnonzero(~np.isnan(y[:, j]))
        truth = y[known, j] == 1
        c = counts[:, known]
        if truth.any() and not truth.all():
            auroc[:, j] = _AucPlan(truth, p[known, j]).auc(c)
        if truth.any():
            ap[:, j] = _ApPlan(truth, p[known, j]).ap(c)
        sens[:, j], spec[:, j] = _rates(c, truth, decided[known, j])
        flat_pos.append(truth)
        flat_scores.append(p[known, j])
        flat_cols.append(known)
    positives, scores, columns = (
        np.concatenate(flat_pos),
        np.concatenate(flat_scores),
        np.concatenate(flat_cols),
    )
    micro = (
        _AucPlan(positives, scores).auc(counts[:, columns])
        if positives.any() and not positives.all()
        else None
    )
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", RuntimeWarning
        )  # nanmean of a resample where every AUROC is undefined
        return {
            "auroc": auroc,
            "average_precision": ap,
            "sensitivity": sens,
            "specificity": spec,
            "macro_auroc": np.nanmean(auroc, axis=1)
            if np.isfinite(auroc).any()
            else np.full(len(counts), np.nan),
            "micro_auroc": micro if micro is not None else np.full(len(counts), np.nan),
            "map": np.nanmean(ap, axis=1) if np.isfinite(ap).any() else np.full(len(counts), np.nan),
        }


def _resampled_figures(
    y: np.ndarray, p: np.ndarray, t: np.ndarray, bootstrap: int, seed: int, codes: np.ndarray | None
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Every figure on the images as they are (``(1,)`` or ``(1, K)``) and on ``bootstrap`` resamples of whole
    images (of whole groups with ``codes``): ``(point, drawn)``, ``drawn`` ``(B,)`` or ``(B, K)`` per figure."""
    n = len(y)
    point = _figures(np.ones((1, n)), y, p, t)
    samples: dict[str, list[np.ndarray]] = {name: [] for name in point}
    if bootstrap > 0 and n > 0:
        rng = np.random.default_rng(seed)
        units = n if codes is None else int(codes.max()) + 1
        chunk = max(1, min(bootstrap, _CELLS_PER_CHUNK // max(n, 1)))
        for start in range(0, bootstrap, chunk):
            counts = _draw_counts(rng, [np.arange(units)], units, min(chunk, bootstrap - start))
            if codes is not None:
                counts = counts[:, codes]  # an image counts as often as its group was drawn
            for name, values in _figures(counts, y, p, t).items():
                samples[name].append(values)
    drawn = {name: np.concatenate(values) if values else np.empty((0,)) for name, values in samples.items()}
    return point, drawn


def _point(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def multilabel_scores(
    y_true: ArrayLike,
    probs: ArrayLike,
    labels: Sequence[str],
    thresholds: ArrayLike,
    bootstrap: int = 0,
    seed: int = 0,
    clusters: ArrayLike | None = None,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """The metrics block of a multi-label model's metrics JSON.

    Args:
        y_true: ``(N, K)`` targets (1, 0, NaN uncertain).
        probs: ``(N, K)`` per-label probabilities.
        labels: the K label names.
        thresholds: ``(K,)`` per-label thresholds (positive at or above).
        bootstrap: resamples of the 95% CIs (0: none; ``ci_low``/``ci_high`` are then None).
        seed: the bootstrap seed.
        clusters: group code per image ``(N,)`` (``0 .. G-1``): resample groups, not images.
        confidence: coverage of the two-sided percentile interval.

    Returns:
        ``{"task": "multilabel", "labels", "n", "per_label": {label: {"auroc", "average_precision",
        "sensitivity", "specificity": {"value", "ci_low", "ci_high"}, "threshold", "ece", "n_positive",
        "n_known"}},
        "macro_auroc", "micro_auroc", "map": {"value", "ci_low", "ci_high"}, "ci": {how the CIs were drawn}}``;
        a figure is None where it is undefined (a label without positives or negatives).

    Example:
        >>> y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=float)
        >>> multilabel_scores(y, y * 0.8 + 0.1, ["a", "b"], [0.5, 0.5])["macro_auroc"]["value"]
        1.0
    """
    y, p = _check(y_true, probs, labels)
    t = np.asarray(thresholds, dtype=np.float64)
    n = len(y)
    codes = None if clusters is None else np.asarray(clusters, dtype=np.int64)
    point, drawn = _resampled_figures(y, p, t, bootstrap, seed, codes)

    def figure(name: str, column: int | None = None) -> dict[str, float | None]:
        value = point[name][0] if column is None else point[name][0, column]
        values = drawn[name] if column is None or drawn[name].size == 0 else drawn[name][:, column]
        return _interval(np.asarray(values, dtype=float), _point(value), confidence)

    per_label = {}
    for j, name in enumerate(labels):
        known = ~np.isnan(y[:, j])
        per_label[name] = {
            "auroc": figure("auroc", j),
            "average_precision": figure("average_precision", j),
            "sensitivity": figure("sensitivity", j),
            "specificity": figure("specificity", j),
            "threshold": float(t[j]),
            # Label-wise calibration: the label's own [absent, present] probabilities, as a binary model's ECE.
            "ece": label_calibration_error(y[:, j], p[:, j], ECE_BINS),
            "n_positive": int((y[known, j] == 1).sum()),
            "n_known": int(known.sum()),
        }
    result: dict[str, Any] = {
        "task": "multilabel",
        "labels": list(labels),
        "n": n,
        "per_label": per_label,
        "macro_auroc": figure("macro_auroc"),
        "micro_auroc": figure("micro_auroc"),
        "map": figure("map"),
    }
    if bootstrap > 0:
        result["ci"] = {
            "n_resamples": int(bootstrap),
            "seed": int(seed),
            "confidence": float(confidence),
            "method": "percentile bootstrap of whole images (every label of an image kept together)"
            if codes is None
            else "cluster percentile bootstrap (whole groups resampled, every label kept together)",
            "unit": "image" if codes is None else "group",
        }
    return result


def label_gaps(
    reference: tuple[ArrayLike, ArrayLike],
    site: tuple[ArrayLike, ArrayLike],
    labels: Sequence[str],
    thresholds: ArrayLike,
    n_resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
    clusters: tuple[ArrayLike | None, ArrayLike | None] = (None, None),
) -> dict[str, Any]:
    """The gap (``site - reference``) of each label's AUROC, sensitivity and specificity (at ``thresholds``) and
    of the macro AUROC between two independent sets of images, each with a percentile-bootstrap CI: each set is
    resampled on its own (whole images, or whole groups with ``clusters``; every label of an image kept
    together), so the interval reflects the sampling error of both (Efron & Tibshirani 1993, ch. 13, as
    :func:`medclass.evaluation.gaps.rate_difference`).

    Args:
        reference: ``(y_true, probs)`` of the reference set (e.g. the internal test split), ``(N, K)`` each.
        site: ``(y_true, probs)`` of the compared set.
        labels: the K label names.
        thresholds: ``(K,)`` per-label thresholds.
        n_resamples: bootstrap resamples of each set.
        seed: the reference's seed (the site's is ``seed + 1``, so the two draws are independent).
        confidence: coverage of the interval.
        clusters: group codes of the reference's and the site's images (None: images are resampled).

    Returns:
        ``{"per_label": {label: {measure: gap}}, "macro_auroc": gap}``, each gap ``{"reference", "site",
        "difference", "ci_low", "ci_high", "excludes_zero"}`` (None where a set leaves the figure undefined).
    """
    t = np.asarray(thresholds, dtype=np.float64)
    drawn = []
    for offset, ((y_true, probs), codes) in enumerate(zip((reference, site), clusters, strict=True)):
        y, p = _check(y_true, probs, labels)
        codes = None if codes is None else np.asarray(codes, dtype=np.int64)
        drawn.append(_resampled_figures(y, p, t, n_resamples, seed + offset, codes))
    (point_a, draws_a), (point_b, draws_b) = drawn

    def gap(name: str, column: int | None = None) -> dict[str, Any]:
        pick = (lambda v: v[..., column]) if column is not None else (lambda v: v)
        a, b = _point(pick(point_a[name])[0]), _point(pick(point_b[name])[0])
        both = a is not None and b is not None
        differences = pick(draws_b[name]) - pick(draws_a[name]) if both else np.empty(0)
        ci = _interval(np.asarray(differences, dtype=float), b - a if both else None, confidence)
        low, high = ci["ci_low"], ci["ci_high"]
        return {
            "reference": a,
            "site": b,
            "difference": ci["value"],
            "ci_low": low,
            "ci_high": high,
            "excludes_zero": bool(low is not None and (low > 0 or high < 0)),
        }

    return {
        "per_label": {name: {m: gap(m, j) for m in GAP_MEASURES} for j, name in enumerate(labels)},
        "macro_auroc": gap("macro_auroc"),
    }
