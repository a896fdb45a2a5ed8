"""Explanations: CAMs, attributions, feature maps, overlays (uncertainty lives in medclass.inference and
medclass.evaluation.uncertainty).

Example:
    >>> from medclass.explain import compute_cam, resolve_target_layer
    >>> maps = compute_cam(model, inputs, targets=[1, 0], method="gradcam")   # (N, H, W) in [0, 1]
"""

from medclass.explain.attribution import ATTRIBUTION_METHODS, SIGNED_METHODS, compute_attribution
from medclass.explain.cam import CAM_METHODS, compute_cam
from medclass.explain.faithfulness import FaithfulnessCurves, deletion_insertion
from medclass.explain.feature_maps import capture_activations, mean_activation_map
from medclass.explain.localisation import pointing_game
from medclass.explain.methods import DEFAULT_METHOD, METHODS, explanation_maps
from medclass.explain.overlay import (
    colorbar_label,
    folder_label,
    overlay_title,
    save_localisation_grid,
    save_overlay,
)
from medclass.explain.targets import (
    TargetLayer,
    TargetScores,
    default_target_layer,
    last_stage_layer,
    num_targets,
    resolve_target_layer,
    stage_layers,
    target_scores,
)

__all__ = [
    "ATTRIBUTION_METHODS",
    "CAM_METHODS",
    "DEFAULT_METHOD",
    "METHODS",
    "SIGNED_METHODS",
    "FaithfulnessCurves",
    "TargetLayer",
    "TargetScores",
    "capture_activations",
    "colorbar_label",
    "compute_attribution",
    "compute_cam",
    "default_target_layer",
    "deletion_insertion",
    "explanation_maps",
    "folder_label",
    "last_stage_layer",
    "mean_activation_map",
    "num_targets",
    "overlay_title",
    "pointing_game",
    "resolve_target_layer",
    "save_localisation_grid",
    "save_overlay",
    "stage_layers",
    "target_scores",
]
