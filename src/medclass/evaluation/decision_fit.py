"""Fitting how a trained model turns logits into a decision: the temperature and the binary operating point,
chosen on the validation split (then stored in the checkpoint by ``medclass.training.checkpoint`` so that
``evaluate`` and ``predict`` apply them unchanged through ``medclass.inference``).

Both are chosen on validation images only; the test split is scored afterwards with the stored values (a
threshold picked on the test split would flatter the test metrics).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from medclass.evaluation.calibration import expected_calibration_error, fit_temperature
from medclass.evaluation.thresholds import choose_threshold, parse_operating_point
from medclass.inference.decision import probabilities
from medclass.utils.errors import ConfigError, DataError

# Equal-width confidence bins of the ECE (Guo et al., ICML 2017 use 15).
ECE_BINS = 15


@dataclass
class Decision:
    """Temperature and threshold of a model, with what they were chosen on.

    Attributes:
        temperature: softmax temperature (1.0: not calibrated).
        threshold: binary threshold on the positive-class probability (None: argmax).
        rule: the operating-point rule, e.g. ``"youden"`` or ``"sensitivity=0.95"`` (None: none).
        chosen_on: the split both were fitted on.
        n: images of that split.
        ece_before, ece_after: ECE on that split at temperature 1 and at ``temperature``.
        sensitivity, specificity: of the positive class at ``threshold`` on that split (binary with a rule).
    """

    temperature: float = 1.0
    threshold: float | None = None
    rule: str | None = None
    chosen_on: str = "val"
    n: int = 0
    ece_before: float | None = None
    ece_after: float | None = None
    sensitivity: float | None = None
    specificity: float | None = None

    def operating_point(self) -> dict[str, Any] | None:
        """The ``operating_point`` block of a metrics JSON (None without a rule)."""
        if self.rule is None:
            return None
        return {
            "rule": self.rule,
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


def check_operating_point(rule: str | None, classes: list[str]) -> str | None:
    """Validate an operating-point rule for a model with ``classes``.

    Returns:
        The rule, or None when none is set.

    Raises:
        ConfigError: the rule is malformed, or the task is not binary (thresholds need one positive class).
    """
    try:
        parsed = parse_operating_point(rule)
    except ValueError as exc:
        raise ConfigError(f"evaluation.operating_point / --operating-point: {exc}") from None
    if parsed is None:
        return None
    if len(classes) != 2:
        raise ConfigError(
            f"operating point {rule!r}: thresholds apply to binary tasks only; this model has "
            f"{len(classes)} classes {classes} (its decision is the argmax)"
        )
    return str(rule).strip().lower().replace(" ", "")


def fit_decision(
    logits: np.ndarray,
    y_true: np.ndarray,
    classes: list[str],
    calibrate: bool = False,
    operating_point: str | None = None,
    temperature: float = 1.0,
    split: str = "val",
) -> Decision:
    """Fit the temperature (optional) and then the binary threshold on held-out logits.

    Args:
        logits: raw model outputs on the held-out split, shape ``(N, K)``.
        y_true: true class indices, shape ``(N,)``.
        classes: class names (binary: ``classes[1]`` is the positive class).
        calibrate: fit a temperature by NLL; otherwise ``temperature`` is kept.
        operating_point: rule for :func:`medclass.evaluation.thresholds.choose_threshold`, or None.
        temperature: the temperature to keep when ``calibrate`` is false.
        split: name of the held-out split (recorded).

    Returns:
        The :class:`Decision`; the threshold is chosen on the probabilities after the temperature.

    Raises:
        ConfigError: a bad rule, or a rule for a task that is not binary.
        DataError: the split is empty, or lacks positives or negatives for a threshold rule.
    """
    rule = check_operating_point(operating_point, classes)
    if len(y_true) == 0:
        raise DataError(f"the {split} split is empty: nothing to calibrate or choose a threshold on")
    if calibrate:
        temperature = fit_temperature(logits, y_true)
    before = expected_calibration_error(y_true, probabilities(logits), ECE_BINS)
    probs = probabilities(logits, temperature)
    decision = Decision(
        temperature=float(temperature),
        chosen_on=split,
        n=len(y_true),
        ece_before=before,
        ece_after=expected_calibration_error(y_true, probs, ECE_BINS),
    )
    if rule is not None:
        positive = (np.asarray(y_true) == 1).astype(int)
        try:
            threshold = choose_threshold(rule, positive, probs[:, 1])
        except ValueError as exc:
            raise DataError(f"choosing the {rule} threshold on the {split} split: {exc}") from None
        predicted = probs[:, 1] >= threshold
        decision.rule, decision.threshold = rule, float(threshold)
        decision.sensitivity = float(predicted[positive == 1].mean())
        decision.specificity = float((~predicted[positive == 0]).mean())
    return decision
