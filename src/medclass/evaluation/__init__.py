"""Evaluation: pure functions from labels and probabilities to numbers (metrics, intervals, calibration,
thresholds, tests). See :mod:`medclass.evaluation.metrics` for the conventions shared by every module."""

from medclass.evaluation.bootstrap import bootstrap_ci
from medclass.evaluation.calibration import (
    expected_calibration_error,
    fit_temperature,
    reliability_curve,
)
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
    "choose_threshold",
    "classification_metrics",
    "classification_report_text",
    "expected_calibration_error",
    "fit_temperature",
    "mcnemar_test",
    "parse_operating_point",
    "reliability_curve",
    "threshold_for_sensitivity",
    "threshold_for_specificity",
    "youden_threshold",
]
