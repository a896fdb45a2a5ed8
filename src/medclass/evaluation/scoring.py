"""The metrics block of a metrics JSON: the plain metrics at the decision rule, bootstrap CIs, ECE, and for a
binary model with a threshold the metrics at 0.5 and at the threshold."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from medclass.evaluation.bootstrap import bootstrap_ci
from medclass.evaluation.calibration import expected_calibration_error
from medclass.evaluation.decision_fit import ECE_BINS, Decision
from medclass.evaluation.metrics import classification_metrics


def metrics_with_ci(
    y_true: np.ndarray,
    probs: np.ndarray,
    classes: list[str],
    threshold: float | None = None,
    bootstrap: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """:func:`classification_metrics` plus bootstrap 95% CIs under ``ci`` when ``bootstrap > 0``."""
    result = classification_metrics(y_true, probs, classes, threshold=threshold)
    if bootstrap > 0:
        result["ci"] = bootstrap_ci(
            y_true, probs, classes, n_resamples=bootstrap, seed=seed, threshold=threshold
        )
    return result


def score(
    y_true: np.ndarray,
    probs: np.ndarray,
    classes: list[str],
    threshold: float | None = None,
    bootstrap: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """Metrics of ``probs`` against ``y_true`` at the decision rule, with CIs, ECE and both thresholds.

    Args:
        y_true: true class indices ``(N,)``.
        probs: probabilities ``(N, K)`` (after any temperature).
        classes: class names; binary: ``classes[1]`` is the positive class.
        threshold: binary decision threshold (None: argmax).
        bootstrap: resamples for the 95% CIs (0: none).
        seed: bootstrap seed.

    Returns:
        The plain metrics at the decision rule, ``ci`` (when ``bootstrap > 0``), ``ece`` (15 bins), and for a
        binary model with a threshold ``at_0.5`` and ``at_threshold`` blocks of the same form.
    """
    result = metrics_with_ci(y_true, probs, classes, threshold, bootstrap, seed)
    if len(classes) == 2 and threshold is not None:
        # The plain keys already are the metrics at the threshold: copy them instead of bootstrapping again.
        result["at_threshold"] = copy.deepcopy(result)
        result["at_0.5"] = metrics_with_ci(y_true, probs, classes, 0.5, bootstrap, seed)
    result["ece"] = expected_calibration_error(y_true, probs, ECE_BINS)
    return result


def decision_blocks(decision: Decision) -> dict[str, Any]:
    """The ``calibration`` and ``operating_point`` blocks of a metrics JSON."""
    return {"calibration": decision.calibration(), "operating_point": decision.operating_point()}
