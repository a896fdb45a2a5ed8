"""Explanations: CAMs, attributions, feature maps, overlays (uncertainty lives in medclass.inference and
medclass.evaluation.uncertainty).

Example:
    >>> from medclass.explain import compute_cam, resolve_target_layer
    >>> maps = compute_cam(model, inputs, targets=[1, 0], method="gradcam")   # (N, H, W) in [0, 1]
"""

from medclass.explain.attribution import ATTRIBUTION_METHODS, compute_attribution
from medclass.explain.cam import CAM_METHODS, compute_cam
from medclass.explain.feature_maps import capture_activations, mean_activation_map
from medclass.explain.overlay import save_localisation_grid, save_overlay
from medclass.explain.targets import (
    TargetLayer,
    TargetScores,
    default_target_layer,
    num_targets,
    resolve_target_layer,
    stage_layers,
    target_scores,
)

# Every method of `medclass explain --method`, in the order the help lists them.
METHODS: tuple[str, ...] = (*CAM_METHODS, *ATTRIBUTION_METHODS, "feature-maps")

__all__ = [
    "ATTRIBUTION_METHODS",
    "CAM_METHODS",
    "METHODS",
    "TargetLayer",
    "TargetScores",
    "capture_activations",
    "compute_attribution",
    "compute_cam",
    "default_target_layer",
    "mean_activation_map",
    "num_targets",
    "resolve_target_layer",
    "save_localisation_grid",
    "save_overlay",
    "stage_layers",
    "target_scores",
]
