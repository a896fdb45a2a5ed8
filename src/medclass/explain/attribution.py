"""Pixel attributions with captum: vanilla-gradient saliency, integrated gradients and occlusion.

Both explain the same target scores as the CAMs (``explain.targets``). Maps have the input's height and width:

- ``saliency``: the largest absolute input gradient over the channels (Simonyan et al. 2014), >= 0;
- ``integrated-gradients``: the attributions summed over the channels, signed (positive pixels raise the
  target score). The baseline is the caller's (``medclass explain`` uses a black image, i.e. pixel value 0
  normalised like the inputs: background in MRI and X-ray); the attributions of an image add up to the target
  score at the image minus the score at the baseline (completeness), up to the integration error of ``steps``;
- ``occlusion`` (Zeiler & Fergus 2014): the drop of the target score when a square patch of side
  ``side / OCCLUSION_WINDOW_FRACTION`` is replaced by the baseline, slid with half its side as the stride and
  averaged over the patches covering each pixel; signed (positive: hiding the pixel lowers the score). No
  gradients, one forward pass per patch position (225 per image), so slower than the others.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from medclass.explain.cam import check_targets, frozen_parameters
from medclass.explain.targets import TargetScores
from medclass.utils.extras import import_extra

ATTRIBUTION_METHODS = ("saliency", "integrated-gradients", "occlusion")
# Methods whose maps are signed (drawn on a diverging scale centred on 0).
SIGNED_METHODS = ("integrated-gradients", "occlusion")
# Occlusion patch side as a fraction of the image side: 1/8 (16 px at 128 px) covers the phantoms' smallest
# lesions (radius 3% of the side) in one patch; the stride is half the patch.
OCCLUSION_WINDOW_FRACTION = 8


def compute_attribution(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: Sequence[int],
    method: str = "saliency",
    baseline: torch.Tensor | None = None,
    steps: int = 32,
) -> np.ndarray:
    """Attribution maps of a batch for the given target classes.

    Args:
        model: the classifier in eval mode.
        inputs: normalised model inputs ``(N, C, H, W)`` on the model's device.
        targets: class index per image (see ``explain.targets`` for one- and two-logit heads).
        method: ``saliency``, ``integrated-gradients`` or ``occlusion``.
        baseline: the reference input of integrated gradients and occlusion, ``(C, H, W)`` or
            ``(N, C, H, W)``; default zeros.
        steps: integration steps of integrated gradients.

    Returns:
        ``(N, H, W)`` float32 maps (see the module docstring for their sign and scale).

    Raises:
        ValueError: unknown method or targets that do not fit.
    """
    if method not in ATTRIBUTION_METHODS:
        raise ValueError(f"attribution method {method!r}: expected one of {', '.join(ATTRIBUTION_METHODS)}")
    if inputs.ndim != 4:
        raise ValueError(f"inputs must be (N, C, H, W), got shape {tuple(inputs.shape)}")
    model.eval()
    with torch.no_grad():
        num_outputs = model(inputs[:1]).shape[1]
    targets = check_targets(targets, inputs.shape[0], num_outputs)
    captum_attr = import_extra("captum.attr", "explain", f"the {method} explanation")
    head = TargetScores(model)
    x = inputs.detach().clone().requires_grad_(True)
    with frozen_parameters(model), torch.enable_grad():
        if method == "saliency":
            grads = captum_attr.Saliency(head).attribute(x, target=targets, abs=True)
            maps = grads.amax(dim=1)
        elif method == "occlusion":
            base = torch.zeros_like(x) if baseline is None else baseline.to(x).expand_as(x)
            channels, height, width = x.shape[1:]
            window = max(min(height, width) // OCCLUSION_WINDOW_FRACTION, 2)
            stride = max(window // 2, 1)
            attributions = captum_attr.Occlusion(head).attribute(
                x.detach(),
                sliding_window_shapes=(channels, window, window),
                strides=(channels, stride, stride),
                baselines=base,
                target=targets,
                perturbations_per_eval=16,
            )
            maps = attributions.sum(dim=1) / channels
        else:
            base = torch.zeros_like(x) if baseline is None else baseline.to(x).expand_as(x)
            attributions = captum_attr.IntegratedGradients(head).attribute(
                x, baselines=base, target=targets, n_steps=steps, internal_batch_size=max(steps, 1)
            )
            maps = attributions.sum(dim=1)
    return maps.detach().cpu().numpy().astype(np.float32)
