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
from medclass.inference.decision import decide, probabilities
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
        positive_class: the declared positive class of a binary task (None: multi-class).

    The threshold is always stored on the probability of ``classes[1]`` (the one decision rule of
    :func:`medclass.inference.decision.decide`); when the positive class is ``classes[0]`` the rule's target
    is translated (its sensitivity is the specificity of ``classes[1]``), so the rule holds for the declared
    positive class.
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
    positive_class: str | None = None

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
    positive_class: str | None = None,
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
        positive_class: binary: the class the rule's sensitivity refers to (default ``classes[1]``).

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
    if len(classes) == 2:
        decision.positive_class = positive_class or str(classes[1])
    if rule is not None:
        column_one = (np.asarray(y_true) == 1).astype(int)
        flipped = decision.positive_class == str(classes[0])
        try:
            threshold = choose_threshold(_rule_for_column_one(rule, flipped), column_one, probs[:, 1])
        except ValueError as exc:
            raise DataError(f"choosing the {rule} threshold on the {split} split: {exc}") from None
        predicted = decide(probs, threshold) == 1
        decision.rule, decision.threshold = rule, float(threshold)
        sens_one = float(predicted[column_one == 1].mean())
        spec_one = float((~predicted[column_one == 0]).mean())
        decision.sensitivity, decision.specificity = (spec_one, sens_one) if flipped else (sens_one, spec_one)
    return decision


def _rule_for_column_one(rule: str, flipped: bool) -> str:
    """The rule in terms of ``classes[1]``: with the positive class at index 0, sensitivity and specificity
    trade places (Youden's J is symmetric)."""
    if not flipped:
        return rule
    swap = {"sensitivity": "specificity", "specificity": "sensitivity"}
    kind, _, target = rule.partition("=")
    return f"{swap.get(kind, kind)}={target}" if target else rule
