"""One explanation request made concrete: the method, the class to explain, the target layer, the baseline,
and the maps of a batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from medclass.explain.attribution import ATTRIBUTION_METHODS, compute_attribution
from medclass.explain.cam import CAM_METHODS, compute_cam
from medclass.explain.feature_maps import capture_activations, mean_activation_map
from medclass.explain.targets import TargetLayer, num_targets, resolve_target_layer, stage_layers
from medclass.inference.checkpoint import CheckpointMeta
from medclass.inference.inputs import eval_transform, preprocess_settings
from medclass.transforms.tensor import to_chw_tensor
from medclass.utils.errors import ConfigError

# Every method of `medclass explain --method`, in the order the help lists them.
METHODS: tuple[str, ...] = (*CAM_METHODS, *ATTRIBUTION_METHODS, "feature-maps")
# The default method, chosen by the pointing game on phantoms with small lesions (BENCHMARKS.md,
# "Explanations: localisation"), at the layer chosen by resolution (explain.targets): LayerCAM found 39-40 of
# 40 lesions on every model that learnt the task at 128 and 224 px; Grad-CAM fell to 14 of 40 on DenseNet-121
# at 224 px, where the chosen layer (denseblock2, 28x28) is shallow and its channel-mean gradient washes out.
DEFAULT_METHOD = "layercam"


def target_index(target: str | int | None, classes: Sequence[str]) -> int | None:
    """The class index of ``target``: a class name or an index (None: explain each image's predicted class).

    Raises:
        ConfigError: neither a class name nor a valid index; the message lists the classes.
    """
    if target is None:
        return None
    text = str(target)
    if text in classes:
        return list(classes).index(text)
    if text.lstrip("-").isdigit() and 0 <= int(text) < len(classes):
        return int(text)
    listing = ", ".join(f"{i}={name}" for i, name in enumerate(classes))
    raise ConfigError(f"--target {text!r}: not a class of the model; expected a name or index of {listing}")


def check_head(model: nn.Module, meta: CheckpointMeta) -> int:
    """The model's logit count, checked against the class names.

    Raises:
        ConfigError: the outputs do not fit the classes.
    """
    settings = preprocess_settings(meta)
    probe = torch.zeros(1, settings.channels, settings.image_size, settings.image_size)
    with torch.no_grad():
        outputs = model.eval()(probe.to(next(model.parameters()).device)).shape[1]
    if num_targets(outputs) != len(meta.classes):
        raise ConfigError(
            f"the model has {outputs} output(s) but {len(meta.classes)} class names {meta.classes}; "
            "a one-logit model needs two names (negative, positive)"
        )
    return outputs


@dataclass
class ExplanationPlan:
    """What to compute for every image.

    Attributes:
        method: one of :data:`METHODS`.
        layer: the target layer (CAMs; feature maps when one is named), else None.
        fixed_target: the class to explain for every image (None: each image's predicted class).
        baseline: the normalised black image (the start of integrated gradients and of faithfulness curves).
    """

    method: str
    layer: TargetLayer | None
    fixed_target: int | None
    baseline: torch.Tensor

    @property
    def layer_name(self) -> str:
        if self.layer is not None:
            return self.layer.name
        return "input" if self.method in ATTRIBUTION_METHODS else "stages"


def plan_explanation(
    model: nn.Module, meta: CheckpointMeta, method: str, target: str | int | None, layer: str | None
) -> ExplanationPlan:
    """Validate a request against the model and resolve its layer and target.

    Raises:
        ConfigError: unknown method, layer or target, a layer for a pixel attribution, or a head that does not
            fit the classes.
    """
    if method not in METHODS:
        raise ConfigError(f"--method {method!r}: expected one of {', '.join(METHODS)}")
    check_head(model, meta)
    if layer and method in ATTRIBUTION_METHODS:
        raise ConfigError(
            f"--layer: {method} attributes to the input pixels; --layer applies to CAMs and feature-maps"
        )
    settings = preprocess_settings(meta)
    try:
        needs_layer = layer or method in CAM_METHODS
        target_layer = resolve_target_layer(model, layer, settings.image_size) if needs_layer else None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    black = np.zeros((settings.image_size, settings.image_size, settings.channels), np.uint8)
    baseline = eval_transform(meta)(to_chw_tensor(black))
    return ExplanationPlan(method, target_layer, target_index(target, meta.classes), baseline)


def explanation_maps(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: Sequence[int],
    method: str,
    layer: TargetLayer | None,
    baseline: torch.Tensor | None = None,
) -> tuple[np.ndarray, dict[str, torch.Tensor] | None]:
    """``(N, H, W)`` maps of ``method`` for a batch, and for ``feature-maps`` the per-stage activations.

    ``feature-maps``' map is the channel mean of the deepest captured layer, resized to the input.
    """
    if method in CAM_METHODS:
        return compute_cam(model, inputs, targets, method, layer), None
    if method in ATTRIBUTION_METHODS:
        return compute_attribution(model, inputs, targets, method, baseline=baseline), None
    if method == "feature-maps":
        layers = [layer] if layer is not None else stage_layers(model)
        activations = capture_activations(model, inputs, layers)
        deepest = next(reversed(activations.values()))
        return mean_activation_map(deepest, tuple(inputs.shape[-2:])).numpy(), activations
    raise ConfigError(f"--method {method!r}: expected one of {', '.join(METHODS)}")
