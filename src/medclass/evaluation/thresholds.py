"""Choosing a binary decision threshold (operating point) on held-out scores.

Convention: an image is predicted positive when ``score >= threshold``, the same rule as
:func:`medclass.evaluation.metrics.predicted_labels`. Thus

* sensitivity(t) = #(positives with score >= t) / #positives, which falls as ``t`` grows;
* specificity(t) = #(negatives with score < t) / #negatives, which grows with ``t``.

The candidate thresholds lie between adjacent distinct observed scores (their midpoints), plus one value just
below the smallest score ("everything positive") and one just above the largest ("nothing positive"). Every
returned threshold is finite and reproduces exactly the sensitivity and specificity it was chosen for when
applied to the same scores, and none equals an observed score: a threshold placed on a score would let the
last digits of another runtime (ONNX Runtime against PyTorch differ in the 7th) flip that image's decision. Thresholds should be chosen on the
validation split and then applied, unchanged, to the test split.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "OPERATING_POINT_FORMS",
    "POSITIVE_NAMES",
    "choose_threshold",
    "default_positive_class",
    "operating_characteristics",
    "parse_operating_point",
    "resolve_positive_class",
    "threshold_for_sensitivity",
    "threshold_for_specificity",
    "youden_threshold",
]

OPERATING_POINT_FORMS = (
    "youden",
    "sensitivity=<target in (0, 1]>",
    "specificity=<target in (0, 1]>",
    "argmax",
)
ARGMAX = "argmax"
_TARGET_RULE = re.compile(r"^(sensitivity|specificity)\s*=\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)$")


def parse_operating_point(text: str | None) -> tuple[str, float | None] | None:
    """Parse an operating-point rule.

    Args:
        text: ``"youden"``, ``"sensitivity=0.95"``, ``"specificity=0.9"`` (case and spaces ignored), or
            ``"argmax"``/``None``/empty for "no threshold" (the decision is the argmax).

    Returns:
        ``None``, ``("youden", None)``, ``("sensitivity", 0.95)`` or ``("specificity", 0.9)``.

    Raises:
        ValueError: any other text or a target outside ``(0, 1]``; the message lists the allowed forms.

    Example:
        >>> parse_operating_point("Sensitivity = 0.95")
        ('sensitivity', 0.95)
    """
    if text is None or not str(text).strip():
        return None
    cleaned = str(text).strip().lower()
    if cleaned == ARGMAX:
        return None
    allowed = ", ".join(repr(form) for form in OPERATING_POINT_FORMS)
    if cleaned == "youden":
        return ("youden", None)
    match = _TARGET_RULE.match(cleaned)
    if match is None:
        raise ValueError(f"unknown operating point {text!r}; allowed forms: {allowed}")
    target = float(match.group(2))
    if not 0.0 < target <= 1.0:
        raise ValueError(f"operating point {text!r}: the target must lie in (0, 1]; allowed forms: {allowed}")
    return (match.group(1), target)


def _check_binary(y_true_binary: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    raw = np.asarray(y_true_binary)
    s = np.asarray(scores, dtype=float)
    if raw.ndim != 1 or s.ndim != 1 or raw.shape != s.shape:
        raise ValueError(
            f"y_true_binary and scores must both have shape (N,), got {raw.shape} and {s.shape} "
            "(for probs (N, 2) pass probs[:, 1])"
        )
    if not np.all(np.isin(raw, (0, 1))):
        raise ValueError(f"y_true_binary must hold only 0/1 (positive = 1), got values {np.unique(raw)[:10]}")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"scores of shape {s.shape} contain NaN or infinite values")
    y = raw.astype(bool)
    if y.all() or not y.any():
        raise ValueError(
            f"choosing a threshold needs both positives and negatives; y_true_binary of shape {raw.shape} "
            f"holds {int(y.sum())} positives"
        )
    return y, s


def operating_characteristics(
    y_true_binary: ArrayLike, scores: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate thresholds (ascending) with the sensitivity and specificity each one gives.

    Returns:
        ``(thresholds, sensitivity, specificity)``, three arrays of the same length: ascending, the value just
        below the smallest distinct score, the midpoints between adjacent distinct scores, then the value just
        above the largest (see the module docstring).

    Raises:
        ValueError: shapes differ (named), labels not 0/1, or only one class present.
    """
    y, s = _check_binary(y_true_binary, scores)
    thresholds = candidate_thresholds(np.unique(s))
    pos, neg = np.sort(s[y]), np.sort(s[~y])
    # Positives with score >= t: all minus those strictly below t.
    sensitivity = 1.0 - np.searchsorted(pos, thresholds, side="left") / pos.size
    specificity = np.searchsorted(neg, thresholds, side="left") / neg.size
    return thresholds, sensitivity, specificity


def candidate_thresholds(distinct: np.ndarray) -> np.ndarray:
    """Thresholds between the ascending ``distinct`` scores: just below the first, the midpoint of each
    adjacent pair, just above the last. Where two scores are adjacent floats their midpoint rounds onto one of
    them; then the upper score is kept, which separates the pair as the midpoint would."""
    low, high = distinct[:-1], distinct[1:]
    middle = low + (high - low) / 2
    middle = np.where((middle > low) & (middle <= high), middle, high)
    return np.concatenate(
        [[np.nextafter(distinct[0], -np.inf)], middle, [np.nextafter(distinct[-1], np.inf)]]
    )


def youden_threshold(y_true_binary: ArrayLike, scores: ArrayLike) -> float:
    """Threshold maximising Youden's J = sensitivity + specificity - 1.

    Among thresholds with equal J the largest (most specific) one is returned, as ``argmax`` over the
    ROC curve of :func:`sklearn.metrics.roc_curve` would do.
    """
    thresholds, sens, spec = operating_characteristics(y_true_binary, scores)
    j = sens + spec - 1.0
    best = np.flatnonzero(j >= j.max() - 1e-12)
    return float(thresholds[best[-1]])


def threshold_for_sensitivity(y_true_binary: ArrayLike, scores: ArrayLike, target: float) -> float:
    """The largest threshold whose sensitivity is at least ``target`` (in ``(0, 1]``).

    Example:
        With 20 positives, ``target=0.95`` needs 19 of them at or above the threshold: the threshold lies
        between the second-lowest positive score and the next lower score.
    """
    target = _check_target(target)
    thresholds, sens, _ = operating_characteristics(y_true_binary, scores)
    # Small tolerance so that e.g. 19/20 counts as reaching 0.95 despite rounding.
    ok = np.flatnonzero(sens >= target - 1e-12)
    return float(thresholds[ok[-1]])


def threshold_for_specificity(y_true_binary: ArrayLike, scores: ArrayLike, target: float) -> float:
    """The smallest candidate threshold whose specificity is at least ``target`` (in ``(0, 1]``).

    The candidates lie between adjacent observed scores, so the result lies just above enough negatives.
    """
    target = _check_target(target)
    thresholds, _, spec = operating_characteristics(y_true_binary, scores)
    ok = np.flatnonzero(spec >= target - 1e-12)
    return float(thresholds[ok[0]])


def _check_target(target: float) -> float:
    value = float(target)
    if not 0.0 < value <= 1.0:
        raise ValueError(f"target must lie in (0, 1], got {target!r}")
    return value


def choose_threshold(rule: str, y_true_binary: ArrayLike, scores: ArrayLike) -> float:
    """Threshold chosen by an operating-point rule such as ``"youden"`` or ``"sensitivity=0.95"``.

    Args:
        rule: text accepted by :func:`parse_operating_point` (not empty).
        y_true_binary: 0/1 labels, shape ``(N,)``; 1 = positive class (index 1).
        scores: positive-class scores, shape ``(N,)`` (e.g. ``probs[:, 1]``).

    Returns:
        The threshold; predict positive when ``score >= threshold``.

    Raises:
        ValueError: an unknown or empty rule, or bad inputs.
    """
    parsed = parse_operating_point(rule)
    if parsed is None:
        raise ValueError(
            f"an operating-point rule is needed; allowed forms: {', '.join(OPERATING_POINT_FORMS)}"
        )
    kind, target = parsed
    if kind == "youden":
        return youden_threshold(y_true_binary, scores)
    if kind == "sensitivity":
        return threshold_for_sensitivity(y_true_binary, scores, target)
    return threshold_for_specificity(y_true_binary, scores, target)


# Class names that mean "the finding is present" (whole words of the name, any case), for the default
# positive class of a binary task.
POSITIVE_NAMES = frozenset(
    {
        "tumour",
        "tumor",
        "tb",
        "tuberculosis",
        "pneumonia",
        "abnormal",
        "yes",
        "positive",
        "malignant",
        "disease",
        "lesion",
        "cancer",
    }
)

# Words that mark the absence of the finding ("no_tumor", "non-malignant", "normal"): such a name is not taken
# for the positive class even when it also holds a word above.
NEGATIVE_WORDS = frozenset({"no", "non", "not", "normal", "healthy", "negative", "benign", "without"})


def default_positive_class(classes: Sequence[str], counts: ArrayLike | None = None) -> str:
    """The positive class of a binary task when none is configured.

    The class whose name holds a word like tumour/tumor/tb/pneumonia/abnormal/yes/positive/malignant and no
    word like no/non/normal/negative (when exactly one does), else the minority class of ``counts`` (images per class, in class order), else
    ``classes[1]``.

    Example:
        >>> default_positive_class(["Tuberculosis", "Normal"])
        'Tuberculosis'
        >>> default_positive_class(["a", "b"], [10, 90])
        'a'
    """
    names = [str(c) for c in classes]
    words = [set(re.split(r"[^a-z0-9]+", c.lower())) for c in names]
    named = [c for c, w in zip(names, words, strict=True) if w & POSITIVE_NAMES and not w & NEGATIVE_WORDS]
    if len(named) == 1:
        return named[0]
    if counts is not None:
        n = np.asarray(counts, dtype=float)
        if n.shape == (len(names),) and n.min() < n.max():
            return names[int(np.argmin(n))]
    return names[1]


def resolve_positive_class(
    classes: Sequence[str], configured: str | None = None, counts: ArrayLike | None = None
) -> str | None:
    """``configured`` checked against ``classes``, else :func:`default_positive_class`; None unless binary.

    Raises:
        ValueError: ``configured`` is not one of ``classes``, or is set for a task that is not binary.
    """
    names = [str(c) for c in classes]
    if configured is not None and str(configured) not in names:
        raise ValueError(f"positive class {configured!r} is not one of the classes {names}")
    if len(names) != 2:
        if configured is not None:
            raise ValueError(f"a positive class applies to binary tasks only; the classes are {names}")
        return None
    return str(configured) if configured is not None else default_positive_class(names, counts)
