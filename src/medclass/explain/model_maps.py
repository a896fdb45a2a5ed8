"""The maps the report's model figures take from explain: the feature maps of one image, and the default
method's map of one class per image (the panel of the test errors).

``reporting.model_figures`` draws them, but may not import this package (feature packages never import each
other): ``medclass.api.model_figures`` hands these functions over as ``reporting.model_figures.ModelMaps``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from medclass.explain.methods import default_method, explanation_maps, plan_explanation
from medclass.inference.spec import ModelSpec


@dataclass(frozen=True)
class DefaultClassMaps:
    """Maps of one class per image: ``maps`` ``(N, H, W)``, the method and the layer's name that made them."""

    maps: np.ndarray
    method: str
    layer_name: str


def default_class_maps(
    model: nn.Module, meta: ModelSpec, inputs: torch.Tensor, targets: Sequence[int]
) -> DefaultClassMaps:
    """The map of explain's default method for the model's family
    (:func:`~medclass.explain.methods.default_method`, at the layer chosen by resolution) of class ``targets[i]``
    for each input: the same map as ``medclass explain`` and the serve page.

    Raises:
        ConfigError, ValueError: a model the method cannot explain (no suitable layer).
    """
    plan = plan_explanation(model, meta, default_method(model), None, None)
    maps, _ = explanation_maps(model, inputs, list(targets), plan.method, plan.layer, plan.baseline)
    return DefaultClassMaps(maps, plan.method, plan.layer_name)
