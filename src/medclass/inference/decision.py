"""The decision rule: logits to probabilities (temperature, softmax or one-logit sigmoid), probabilities to a
class (the stored threshold on the declared positive class of a binary task, else the argmax), and the one
uncertainty rule. Every prediction, metric, bundle and endpoint of medclass applies these functions, so a number
reported at "the threshold" is the decision ``predict`` makes.

:class:`Decision` is the fitted rule of one model (temperature, threshold, positive class, how they were chosen);
it is part of the model description (:class:`medclass.inference.spec.ModelSpec`).

Pure numpy: no torch, cheap to import (the metric functions of ``medclass.evaluation`` use it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

# A case is flagged uncertain when the predictive entropy of its (mean) probabilities exceeds this fraction of
# the largest possible entropy, ln K (a uniform answer), unless the model description sets its own limit.
UNCERTAIN_ENTROPY_FRACTION = 0.5

# Equal-width confidence bins of the ECE (Guo et al., ICML 2017 use 15).
ECE_BINS = 15


def probabilities(logits: ArrayLike, temperature: float = 1.0) -> np.ndarray:
    """Class probabilities of ``(N, K)`` logits at ``temperature``.

    ``K >= 2``: a numerically stable softmax of ``logits / temperature``. ``K == 1`` (a binary sigmoid head):
    ``[1 - sigmoid(z / T), sigmoid(z / T)]``, so the positive class is column 1 as for a two-logit head.

    Raises:
        ValueError: ``logits`` is not 2-D, or ``temperature`` is not a positive finite number.
    """
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"logits must be (N, K), got shape {z.shape}")
    t = float(temperature)
    if not np.isfinite(t) or t <= 0:
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
    scaled = z / t
    if scaled.shape[1] == 1:
        positive = 1.0 / (1.0 + np.exp(-scaled[:, 0]))
        return np.stack([1.0 - positive, positive], axis=1)
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def check_threshold(threshold: float | None, n_classes: int, positive_index: int = 1) -> float | None:
    """``threshold`` as a float (None stays None).

    Raises:
        ValueError: a threshold for a task that is not binary, one that is not finite, or a positive index that
            is not 0 or 1.
    """
    if threshold is None:
        return None
    if n_classes != 2:
        raise ValueError(
            f"a decision threshold applies to binary problems only; probs has {n_classes} columns "
            "(multi-class predictions use the argmax)"
        )
    if positive_index not in (0, 1):
        raise ValueError(f"positive_index must be 0 or 1 for a binary task, got {positive_index!r}")
    value = float(threshold)
    if not np.isfinite(value):
        raise ValueError(f"threshold must be a finite number, got {threshold!r}")
    return value


def at_or_above(scores: ArrayLike, threshold: float) -> np.ndarray:
    """The one comparison of every threshold rule: a score equal to the threshold counts as positive."""
    return np.asarray(scores, dtype=np.float64) >= threshold


def decide(probs: ArrayLike, threshold: float | None = None, positive_index: int = 1) -> np.ndarray:
    """Predicted class index per row of ``(N, K)`` probabilities.

    Binary with a threshold: the positive class (column ``positive_index``) when its probability is
    ``>= threshold``, else the other class. Otherwise the argmax (ties go to the lower index, as
    :func:`numpy.argmax` does).

    Raises:
        ValueError: ``probs`` is not 2-D, or a threshold with ``K != 2``.

    Example:
        >>> decide([[0.7, 0.3], [0.4, 0.6]], threshold=0.25).tolist()
        [1, 1]
        >>> decide([[0.7, 0.3], [0.4, 0.6]], threshold=0.5, positive_index=0).tolist()
        [0, 1]
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"probs must be (N, K), got shape {p.shape}")
    t = check_threshold(threshold, p.shape[1], positive_index)
    if t is None:
        return np.argmax(p, axis=1).astype(np.int64)
    positive = at_or_above(p[:, positive_index], t)
    return np.where(positive, positive_index, 1 - positive_index).astype(np.int64)


def label_probabilities(logits: ArrayLike, temperatures: ArrayLike | None = None) -> np.ndarray:
    """Per-label probabilities of a multi-label head's ``(N, K)`` logits: an independent sigmoid per column,
    of ``logit / temperatures[k]`` when per-label temperatures ``(K,)`` are given.

    Raises:
        ValueError: ``logits`` is not 2-D, or the temperatures are not ``K`` positive finite numbers.
    """
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"logits must be (N, K), got shape {z.shape}")
    if temperatures is not None:
        t = np.asarray(temperatures, dtype=np.float64)
        if t.shape != (z.shape[1],) or not np.all(np.isfinite(t)) or np.any(t <= 0):
            raise ValueError(f"temperatures must be {z.shape[1]} positive finite numbers, got {t.tolist()}")
        z = z / t[None, :]
    # exp of a large negative z overflows; this form is exact and finite for every float.
    return np.where(z >= 0, 1.0 / (1.0 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1.0 + np.exp(-np.abs(z))))


def decide_labels(probs: ArrayLike, thresholds: ArrayLike) -> np.ndarray:
    """``(N, K)`` booleans: label ``k`` is positive when its probability is at or above ``thresholds[k]``."""
    p = np.asarray(probs, dtype=np.float64)
    t = np.asarray(thresholds, dtype=np.float64)
    if p.ndim != 2 or t.shape != (p.shape[1],):
        raise ValueError(f"probs (N, K) and thresholds (K,) expected, got shapes {p.shape} and {t.shape}")
    return at_or_above(p, t[None, :])


def uncertain(entropy: ArrayLike, n_classes: int, limit: float | None = None) -> np.ndarray:
    """The one uncertainty rule: ``entropy`` (nats, of the mean probabilities) above ``limit``.

    ``limit`` None: :data:`UNCERTAIN_ENTROPY_FRACTION` of ``ln n_classes``.
    """
    h = np.asarray(entropy, dtype=np.float64)
    cut = UNCERTAIN_ENTROPY_FRACTION * np.log(n_classes) if limit is None else float(limit)
    return h > cut


@dataclass
class Decision:
    """How a model turns logits into a decision, with what it was chosen on.

    Attributes:
        temperature: softmax temperature (1.0: not calibrated).
        threshold: binary threshold on the probability of ``positive_class`` (None: argmax).
        positive_class: the declared positive class of a binary task (None: multi-class).
        positive_index: its column in the probabilities (binary: 0 or 1).
        rule: the operating-point rule, e.g. ``"youden"`` or ``"sensitivity=0.95"`` (None: none).
        chosen_on: the split both were fitted on.
        n: images of that split.
        ece_before, ece_after: ECE on that split at temperature 1 and at ``temperature``.
        sensitivity, specificity: of the positive class at ``threshold`` on that split (binary with a rule).
        uncertain_entropy: predictive entropy (nats) above which a case is flagged uncertain (None: half of
            ``ln K``, see :func:`uncertain`).
    """

    temperature: float = 1.0
    threshold: float | None = None
    positive_class: str | None = None
    positive_index: int = 1
    rule: str | None = None
    chosen_on: str = "val"
    n: int = 0
    ece_before: float | None = None
    ece_after: float | None = None
    sensitivity: float | None = None
    specificity: float | None = None
    uncertain_entropy: float | None = None

    def probabilities(self, logits: ArrayLike) -> np.ndarray:
        """Probabilities of ``(N, K)`` logits at this decision's temperature."""
        return probabilities(logits, self.temperature)

    def decide(self, probs: ArrayLike) -> np.ndarray:
        """Class indices of ``(N, K)`` probabilities under this decision (see :func:`decide`)."""
        return decide(probs, self.threshold, self.positive_index)

    def above_threshold(self, probs: ArrayLike) -> np.ndarray | None:
        """Per row: the positive class's probability reaches the threshold (None without a threshold)."""
        if self.threshold is None:
            return None
        return self.decide(probs) == self.positive_index

    def uncertain(self, entropy: ArrayLike, n_classes: int) -> np.ndarray:
        """The uncertainty flag of each entropy (see :func:`uncertain`)."""
        return uncertain(entropy, n_classes, self.uncertain_entropy)

    def operating_point(self) -> dict[str, Any] | None:
        """The ``operating_point`` block of a metrics JSON (None without a rule)."""
        if self.rule is None:
            return None
        return {
            "rule": self.rule,
            "positive_class": self.positive_class,
            "threshold": self.threshold,
            "chosen_on": self.chosen_on,
            "n": self.n,
            f"{self.chosen_on}_sensitivity": self.sensitivity,
            f"{self.chosen_on}_specificity": self.specificity,
        }

    def calibration(self) -> dict[str, Any]:
        """The ``calibration`` block of a metrics JSON."""
        return {
            "temperature": self.temperature,
            "fitted_on": self.chosen_on if self.temperature != 1.0 else None,
            f"{self.chosen_on}_ece_before": self.ece_before,
            f"{self.chosen_on}_ece_after": self.ece_after,
            "n_bins": ECE_BINS,
        }


@dataclass
class LabelRule:
    """The operating point of one label of a multi-label model.

    Attributes:
        threshold: the label is positive when its probability is at or above it (0.5 when no rule was fitted).
        rule: the operating-point rule it was chosen by (``"youden"``, ``"sensitivity=0.95"``; None: 0.5).
        chosen_on: the split it was chosen on.
        n: images of that split with a known value of this label.
        sensitivity, specificity: of this label at ``threshold`` on that split (after the temperature).
        temperature: the label's probability is ``sigmoid(logit / temperature)`` (1.0: not calibrated; a
            description written before label-wise calibration loads with 1.0).
        ece_before, ece_after: the label's ECE on that split at temperature 1 and at ``temperature``.
        temperature_kept: why calibration kept the temperature at 1 for this label (None: fitted, or not asked).
    """

    threshold: float = 0.5
    rule: str | None = None
    chosen_on: str = "val"
    n: int = 0
    sensitivity: float | None = None
    specificity: float | None = None
    temperature: float = 1.0
    ece_before: float | None = None
    ece_after: float | None = None
    temperature_kept: str | None = None

    def calibration(self) -> dict[str, Any]:
        """The label's ``calibration`` block of a multi-label metrics JSON (the keys of a single-label model's
        :meth:`Decision.calibration`, plus ``temperature_kept`` when calibration left this label at 1)."""
        block = {
            "temperature": self.temperature,
            "fitted_on": self.chosen_on if self.temperature != 1.0 else None,
            f"{self.chosen_on}_ece_before": self.ece_before,
            f"{self.chosen_on}_ece_after": self.ece_after,
            "n_bins": ECE_BINS,
        }
        if self.temperature_kept is not None:
            block["temperature_kept"] = self.temperature_kept
        return block


@dataclass
class MultilabelDecision:
    """How a multi-label model decides: a sigmoid per label (at the label's temperature), then each label's own
    threshold.

    Attributes:
        rules: label name -> :class:`LabelRule`, in the order of the model's outputs.
    """

    rules: dict[str, LabelRule]

    @property
    def labels(self) -> list[str]:
        """The label names, in output order."""
        return list(self.rules)

    @property
    def thresholds(self) -> np.ndarray:
        """``(K,)`` thresholds in output order."""
        return np.array([rule.threshold for rule in self.rules.values()], dtype=np.float64)

    @property
    def temperatures(self) -> np.ndarray:
        """``(K,)`` per-label temperatures in output order."""
        return np.array([rule.temperature for rule in self.rules.values()], dtype=np.float64)

    def probabilities(self, logits: ArrayLike) -> np.ndarray:
        """Per-label probabilities at each label's temperature (see :func:`label_probabilities`)."""
        return label_probabilities(logits, self.temperatures)

    def decide(self, probs: ArrayLike) -> np.ndarray:
        """``(N, K)`` per-label decisions (see :func:`decide_labels`)."""
        return decide_labels(probs, self.thresholds)
