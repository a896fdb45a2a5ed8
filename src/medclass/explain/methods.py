"""One explanation request made concrete: the method, the class to explain, the target layer, the baseline,
and the maps of a batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torchvision
from torch import nn

from medclass.explain.attribution import ATTRIBUTION_METHODS, compute_attribution
from medclass.explain.cam import CAM_METHODS, compute_cam
from medclass.explain.feature_maps import capture_activations, mean_activation_map
from medclass.explain.targets import TargetLayer, num_targets, resolve_target_layer, stage_layers
from medclass.inference.inputs import eval_transform
from medclass.inference.spec import ModelSpec
from medclass.models import CustomCNN
from medclass.transforms.tensor import to_chw_tensor
from medclass.utils.errors import ConfigError

# Every method of `medclass explain --method`, in the order the help lists them.
METHODS: tuple[str, ...] = (*CAM_METHODS, *ATTRIBUTION_METHODS, "feature-maps")
# The default method of a family the four measures of issue 27 have not been run on (BENCHMARKS.md,
# "Explanations: the four measures"; every family medclass tells apart has been), at the layer chosen by
# resolution (explain.targets). LayerCAM was chosen by the pointing game on phantoms alone (39-40 of 40 small
# lesions at 128 and 224 px; Grad-CAM 14 of 40 on DenseNet-121 at 224 px, where the chosen layer, denseblock2,
# is shallow).
DEFAULT_METHOD = "layercam"
# The default per family where the four measures were run, on models trained on the 4-class brain MRI set at
# 128 px (BENCHMARKS.md, "Explanations: the four measures"): on ResNet-18 LayerCAM at layer2 failed the
# randomisation check (median Spearman 0.61 between the trained and the fully randomised model's maps) and drew
# a lattice of dots; Grad-CAM at the same layer passed (0.00), beat random pixel order (deletion gap 0.15, CI
# 0.07-0.23), found 40 of 40 phantom lesions, without a lattice. The custom CNN: the same ranking (LayerCAM 0.31,
# Grad-CAM -0.03). EfficientNet-B0: every CAM passed the randomisation check, but LayerCAM and HiResCAM drew
# dots at the stride and Grad-CAM did not (its pointing game was not measured: it does not learn the phantoms).
# DenseNet-121 at denseblock2: LayerCAM failed the randomisation checks (model 0.48, data 0.66), Grad-CAM passed
# (0.19, -0.00) with the largest deletion gap (0.18, CI 0.10-0.27) and the smoothest map (its pointing game at
# 224 px, 14 of 40, is the known weak spot). ViT-Tiny at the last block's norm1: both passed the model
# randomisation on real MRI (Grad-CAM -0.38, LayerCAM -0.05), but LayerCAM failed the data randomisation (0.54;
# Grad-CAM -0.69) and, on phantom-trained ViTs, the model randomisation (0.33-0.44; Grad-CAM -0.12).
FAMILY_METHODS: dict[str, str] = {
    "resnet": "gradcam",
    "cnn": "gradcam",
    "efficientnet": "gradcam",
    "densenet": "gradcam",
    "vit": "gradcam",
}


def model_family(model: nn.Module) -> str:
    """The family whose default explanation ``model`` gets: ``resnet``, ``densenet``, ``efficientnet``,
    ``cnn`` (medclass' custom CNN), ``vit`` (a patch-token transformer) or ``other``."""
    if isinstance(model, CustomCNN):
        return "cnn"
    for family, kind in (
        ("resnet", torchvision.models.ResNet),
        ("densenet", torchvision.models.DenseNet),
        ("efficientnet", torchvision.models.EfficientNet),
    ):
        if isinstance(model, kind):
            return family
    return "vit" if hasattr(getattr(model, "patch_embed", None), "grid_size") else "other"


def default_method(model: nn.Module) -> str:
    """The explanation method used when none is named: :data:`FAMILY_METHODS` of ``model``'s family, else
    :data:`DEFAULT_METHOD`. ``medclass explain``, the report's error panel and the serve page all use it."""
    return FAMILY_METHODS.get(model_family(model), DEFAULT_METHOD)


# ``--target`` keywords (a class of that name takes precedence): each image's true class, read from the name of
# the folder it sits in (the folder-per-class layout), or its predicted class (the default).
TRUE_CLASS = "true"
PREDICTED_CLASS = "predicted"


def target_index(target: str | int | None, classes: Sequence[str], flag: str = "--target") -> int | None:
    """The class index of ``target``: a class name or an index (None: explain each image's predicted class);
    ``flag`` is the option named in the error.

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
    raise ConfigError(f"{flag} {text!r}: not a class of the model; expected a name or index of {listing}")


def check_head(model: nn.Module, meta: ModelSpec) -> int:
    """The model's logit count, checked against the class names.

    Raises:
        ConfigError: the outputs do not fit the classes.
    """
    settings = meta.preprocess.settings
    probe = torch.zeros(1, settings.channels, settings.image_size, settings.image_size)
    with torch.no_grad():
        outputs = model.eval()(probe.to(next(model.parameters()).device)).shape[1]
    if num_targets(outputs) != len(meta.classes):
        raise ConfigError(
            f"the model has {outputs} output(s) but {len(meta.classes)} class names {meta.classes}; "
            "a one-logit model needs two names (negative, positive)"
        )
    return outputs


class ContrastiveScores(nn.Module):
    """``model`` whose logits are taken relative to class ``against``: explaining class a then explains
    ``z_a - z_against``, "why a rather than against" (a contrastive map). A one- or two-logit head's score is
    already the margin between its two classes (``explain.targets``), so it is left as it is."""

    def __init__(self, model: nn.Module, against: int) -> None:
        super().__init__()
        self.model = model
        self.against = int(against)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(x)
        return logits - logits[:, self.against : self.against + 1] if logits.shape[1] > 2 else logits


@dataclass
class ExplanationPlan:
    """What to compute for every image.

    Attributes:
        method: one of :data:`METHODS`.
        layer: the target layer (CAMs; feature maps when one is named), else None.
        fixed_target: the class to explain for every image (None: each image's predicted class, or with
            ``true_class`` its true class).
        baseline: the normalised black image (the start of integrated gradients and of faithfulness curves).
        contrast: the class the target is explained against (None: the target's own score).
    """

    method: str
    layer: TargetLayer | None
    fixed_target: int | None
    baseline: torch.Tensor
    contrast: int | None = None
    true_class: bool = False

    def scored(self, model: nn.Module) -> nn.Module:
        """The network whose scores the maps explain: ``model``, or :class:`ContrastiveScores` of it."""
        return model if self.contrast is None else ContrastiveScores(model, self.contrast)

    @property
    def layer_name(self) -> str:
        if self.layer is not None:
            return self.layer.name
        return "input" if self.method in ATTRIBUTION_METHODS else "stages"


def plan_explanation(
    model: nn.Module,
    meta: ModelSpec,
    method: str,
    target: str | int | None,
    layer: str | None,
    contrast: str | int | None = None,
) -> ExplanationPlan:
    """Validate a request against the model and resolve its layer, target and contrast class.

    Raises:
        ConfigError: unknown method, layer, target or contrast class, a contrast equal to the target, a layer
            for a pixel attribution, or a head that does not fit the classes.
    """
    if method not in METHODS:
        raise ConfigError(f"--method {method!r}: expected one of {', '.join(METHODS)}")
    check_head(model, meta)
    if layer and method in ATTRIBUTION_METHODS:
        raise ConfigError(
            f"--layer: {method} attributes to the input pixels; --layer applies to CAMs and feature-maps"
        )
    settings = meta.preprocess.settings
    try:
        needs_layer = layer or method in CAM_METHODS
        target_layer = resolve_target_layer(model, layer, settings.image_size) if needs_layer else None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    black = np.zeros((settings.image_size, settings.image_size, settings.channels), np.uint8)
    baseline = eval_transform(meta)(to_chw_tensor(black))
    keyword = str(target) if target is not None and str(target) not in meta.classes else None
    true_class = keyword == TRUE_CLASS
    fixed = None if keyword in (TRUE_CLASS, PREDICTED_CLASS) else target_index(target, meta.classes)
    against = target_index(contrast, meta.classes, "--contrast") if contrast is not None else None
    if against is not None and against == fixed:
        raise ConfigError(f"--contrast {contrast!r}: the class explained against must differ from --target")
    return ExplanationPlan(method, target_layer, fixed, baseline, against, true_class)


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
