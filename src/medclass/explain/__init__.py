"""Explanations and uncertainty: CAMs, attributions, feature maps, overlays, MC dropout, TTA, referral.

Example:
    >>> from medclass.explain import compute_cam, resolve_target_layer
    >>> maps = compute_cam(model, inputs, targets=[1, 0], method="gradcam")   # (N, H, W) in [0, 1]
"""

from medclass.explain.attribution import ATTRIBUTION_METHODS, SIGNED_METHODS, compute_attribution
from medclass.explain.cam import CAM_METHODS, compute_cam
from medclass.explain.faithfulness import FaithfulnessCurves, deletion_insertion
from medclass.explain.feature_maps import capture_activations, mean_activation_map
from medclass.explain.localisation import pointing_game
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
from medclass.explain.uncertainty import (
    PassSummary,
    accuracy_at_referral,
    dropout_active,
    dropout_layers,
    mc_dropout_predict,
    predictive_entropy,
    referral_curve,
    referral_point,
    summarize_passes,
    tta_predict,
)

# Every method of `medclass explain --method`, in the order the help lists them.
METHODS: tuple[str, ...] = (*CAM_METHODS, *ATTRIBUTION_METHODS, "feature-maps")
# The default method, chosen by the pointing game on phantoms with small lesions (BENCHMARKS.md,
# "Explanations: localisation"), at the layer chosen by resolution (explain.targets).
DEFAULT_METHOD = "gradcam"

__all__ = [
    "ATTRIBUTION_METHODS",
    "CAM_METHODS",
    "DEFAULT_METHOD",
    "METHODS",
    "SIGNED_METHODS",
    "FaithfulnessCurves",
    "PassSummary",
    "TargetLayer",
    "TargetScores",
    "accuracy_at_referral",
    "capture_activations",
    "colorbar_label",
    "compute_attribution",
    "compute_cam",
    "default_target_layer",
    "deletion_insertion",
    "dropout_active",
    "dropout_layers",
    "folder_label",
    "last_stage_layer",
    "mc_dropout_predict",
    "mean_activation_map",
    "num_targets",
    "overlay_title",
    "pointing_game",
    "predictive_entropy",
    "referral_curve",
    "referral_point",
    "resolve_target_layer",
    "save_localisation_grid",
    "save_overlay",
    "stage_layers",
    "summarize_passes",
    "target_scores",
    "tta_predict",
]
