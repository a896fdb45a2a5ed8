"""Fitting how a trained model turns logits into a decision: the temperature and the binary operating point,
chosen on the validation split (then stored in the checkpoint by ``medclass.training.checkpoint`` so that
``evaluate`` and ``predict`` apply them unchanged through ``medclass.inference``).

Both are chosen on validation images only; the test split is scored afterwards with the stored values (a
threshold picked on the test split would flatter the test metrics).
"""

from __future__ import annotations

import numpy as np

from medclass.evaluation.calibration import expected_calibration_error, fit_temperature
from medclass.evaluation.thresholds import choose_threshold, parse_operating_point
from medclass.inference.decision import ECE_BINS, Decision, probabilities
from medclass.utils.errors import ConfigError, DataError


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


DEFAULT_BINARY_RULE = "youden"


def training_rule(
    rule: str | None, classes: list[str], y_true: np.ndarray, positive_class: str | None
) -> str | None:
    """The decision rule training fits on val: ``rule`` when one is configured (``argmax`` included), else for a
    binary model the Youden threshold on the declared positive class, else the argmax.

    A binary model's default is a threshold chosen on val because the argmax of a model trained on unbalanced
    classes trades sensitivity for specificity silently (held-out TB X-rays: sensitivity 0.84 at the argmax,
    0.94 at a threshold chosen on val). Without positives and negatives in val no threshold can be chosen, and
    the default falls back to the argmax (the configured rules raise instead).
    """
    if rule is not None or len(classes) != 2:
        return rule
    positive_index = [str(c) for c in classes].index(positive_class or str(classes[1]))
    is_positive = np.asarray(y_true) == positive_index
    return DEFAULT_BINARY_RULE if is_positive.any() and not is_positive.all() else None


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
        classes: class names.
        calibrate: fit a temperature by NLL; otherwise ``temperature`` is kept.
        operating_point: rule for :func:`medclass.evaluation.thresholds.choose_threshold`, or None.
        temperature: the temperature to keep when ``calibrate`` is false.
        split: name of the held-out split (recorded).
        positive_class: binary: the class the rule's sensitivity refers to (default ``classes[1]``).

    Returns:
        The :class:`Decision`; the threshold is chosen on the positive class's probabilities after the
        temperature.

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
        decision.positive_index = [str(c) for c in classes].index(decision.positive_class)
    if rule is not None:
        positive = np.asarray(y_true) == decision.positive_index
        try:
            threshold = choose_threshold(rule, positive.astype(int), probs[:, decision.positive_index])
        except ValueError as exc:
            raise DataError(f"choosing the {rule} threshold on the {split} split: {exc}") from None
        decision.rule, decision.threshold = rule, float(threshold)
        predicted = decision.decide(probs) == decision.positive_index
        decision.sensitivity = float(predicted[positive].mean())
        decision.specificity = float((~predicted[~positive]).mean())
    return decision
