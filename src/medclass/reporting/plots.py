"""Every medclass plot: each function writes one PNG and returns its path; nothing is ever shown.

The functions live in topic modules (tables and curves, evaluation results, images) and are collected here
so callers write ``from medclass.reporting import plots`` and ``plots.plot_roc_curves(...)``.
"""

from medclass.reporting.plots_common import DPI
from medclass.reporting.plots_eval import (
    plot_confusion_matrix,
    plot_pr_curves,
    plot_reliability_diagram,
    plot_roc_curves,
)
from medclass.reporting.plots_images import plot_feature_maps, plot_image_grid, plot_prediction_grid
from medclass.reporting.plots_training import (
    plot_class_distribution,
    plot_learning_curves,
    plot_metric_bars,
    plot_overlaid_curves,
)

__all__ = [
    "DPI",
    "plot_class_distribution",
    "plot_confusion_matrix",
    "plot_feature_maps",
    "plot_image_grid",
    "plot_learning_curves",
    "plot_metric_bars",
    "plot_overlaid_curves",
    "plot_pr_curves",
    "plot_prediction_grid",
    "plot_reliability_diagram",
    "plot_roc_curves",
]
