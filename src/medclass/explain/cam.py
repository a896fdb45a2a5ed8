"""Class activation maps with pytorch-grad-cam: Grad-CAM, Grad-CAM++, HiResCAM, LayerCAM, Score-CAM, Eigen-CAM.

HiResCAM (Draelos & Carin 2020) multiplies the activations by their gradients cell by cell instead of by the
channel's mean gradient, so the map stays faithful to what the score depends on; LayerCAM (Jiang et al. 2021)
weights each cell by its positive gradient, meant for the finer grids of earlier layers. Which layer the CAM
is taken at matters more than the weighting for small lesions (see ``explain.targets``).

Every call builds the CAM object, computes the maps and releases the library's forward hooks (and the
activations and graph they hold) before returning, even when the computation fails, so running CAMs over
hundreds of images in a loop keeps memory flat. The library's own context manager is not used: its
``__exit__`` swallows ``IndexError`` (it prints it and returns None instead of maps).

Maps are the library's: the positive part of the weighted activation sum, resized to the input's height and
width and min-max scaled to [0, 1] per image. Eigen-CAM is class-agnostic (the first principal component of
the activations): the target is ignored.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import nn

from medclass.explain.targets import TargetLayer, TargetScores, num_targets, resolve_target_layer
from medclass.utils.extras import import_extra

# Method name -> class of pytorch-grad-cam (the ``explain`` extra, imported when a map is computed).
CAM_METHODS: dict[str, str] = {
    "gradcam": "GradCAM",
    "gradcam++": "GradCAMPlusPlus",
    "hirescam": "HiResCAM",
    "layercam": "LayerCAM",
    "scorecam": "ScoreCAM",
    "eigencam": "EigenCAM",
}


@contextlib.contextmanager
def frozen_parameters(model: nn.Module) -> Iterator[None]:
    """Turn off ``requires_grad`` on the parameters for the duration, then restore each flag.

    Explanations need gradients with respect to the input and activations only; skipping the weight
    gradients saves their memory and about a third of the backward pass.
    """
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for param, _ in flags:
        param.requires_grad_(False)
    try:
        yield
    finally:
        for param, flag in flags:
            param.requires_grad_(flag)


def check_targets(targets: Sequence[int], batch: int, num_outputs: int) -> list[int]:
    """``targets`` as a list of class indices, one per image.

    Raises:
        ValueError: wrong count or an index outside ``[0, max(num_outputs, 2))``.
    """
    targets = [int(t) for t in targets]
    if len(targets) != batch:
        raise ValueError(f"{len(targets)} targets for {batch} images: give one class index per image")
    n = num_targets(num_outputs)
    bad = [t for t in targets if not 0 <= t < n]
    if bad:
        raise ValueError(f"target class index {bad[0]} out of range for a model with {n} classes")
    return targets


def compute_cam(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: Sequence[int],
    method: str = "gradcam",
    layer: TargetLayer | str | None = None,
) -> np.ndarray:
    """CAMs of a batch for the given target classes.

    Args:
        model: the classifier (eval mode; one, two or more logits, see ``explain.targets``).
        inputs: normalised model inputs ``(N, C, H, W)`` on the model's device.
        targets: class index per image (for one-logit models 1 is the positive class, 0 the negative).
        method: a key of :data:`CAM_METHODS`.
        layer: the target layer, its module name, or None for the automatic choice at the inputs' size.

    Returns:
        ``(N, H, W)`` float32 maps in [0, 1] at the input's height and width.

    Raises:
        ValueError: unknown method or layer, or targets that do not fit.
    """
    if method not in CAM_METHODS:
        raise ValueError(f"CAM method {method!r}: expected one of {', '.join(CAM_METHODS)}")
    if inputs.ndim != 4:
        raise ValueError(f"inputs must be (N, C, H, W), got shape {tuple(inputs.shape)}")
    target_layer = (
        layer
        if isinstance(layer, TargetLayer)
        else resolve_target_layer(model, layer, tuple(inputs.shape[-2:]))
    )
    model.eval()
    with torch.no_grad():
        num_outputs = model(inputs[:1]).shape[1]
    targets = check_targets(targets, inputs.shape[0], num_outputs)
    library = import_extra("pytorch_grad_cam", "explain", f"the {method} explanation")
    target_class = import_extra(
        "pytorch_grad_cam.utils.model_targets", "explain", f"the {method} explanation"
    )
    x = inputs.detach().clone().requires_grad_(True)
    with frozen_parameters(model), torch.enable_grad():
        cam = getattr(library, CAM_METHODS[method])(
            model=TargetScores(model),
            target_layers=[target_layer.module],
            reshape_transform=target_layer.reshape,
        )
        try:
            # Score-CAM draws a tqdm bar per image on stderr; nothing else is written during the call.
            quiet = (
                contextlib.redirect_stderr(io.StringIO())
                if method == "scorecam"
                else contextlib.nullcontext()
            )
            with quiet:
                maps = cam(input_tensor=x, targets=[target_class.ClassifierOutputTarget(t) for t in targets])
        finally:
            cam.activations_and_grads.release()
            cam.outputs = None  # holds the output and, through it, the retained graph
    return np.asarray(maps, dtype=np.float32)
