"""Evaluation: pure functions from labels and probabilities to numbers (metrics, intervals, calibration,
thresholds, tests). See :mod:`medclass.evaluation.metrics` for the conventions shared by every module."""

from medclass.evaluation.bootstrap import bootstrap_ci
from medclass.evaluation.calibration import (
    calibration_slope_intercept,
    expected_calibration_error,
    fit_temperature,
    reliability_curve,
)
from medclass.evaluation.decision_curve import decision_curve
from medclass.evaluation.heterogeneity import dersimonian_laird, pool_proportions
from medclass.evaluation.metrics import (
    classification_metrics,
    classification_report_text,
)
from medclass.evaluation.stats import mcnemar_test
from medclass.evaluation.thresholds import (
    choose_threshold,
    parse_operating_point,
    threshold_for_sensitivity,
    threshold_for_specificity,
    youden_threshold,
)

__all__ = [
    "bootstrap_ci",
    "calibration_slope_intercept",
    "choose_threshold",
    "classification_metrics",
    "classification_report_text",
    "decision_curve",
    "dersimonian_laird",
    "expected_calibration_error",
    "fit_temperature",
    "mcnemar_test",
    "parse_operating_point",
    "pool_proportions",
    "reliability_curve",
    "threshold_for_sensitivity",
    "threshold_for_specificity",
    "youden_threshold",
]
