"""Where an explanation looks and what it explains: the target layer of every model family, the reshape of a
transformer's tokens into a spatial map, and the score each target class stands for.

Target layer (chosen automatically, overridable with ``--layer NAME``, a name of ``model.named_modules()``).
When the input size is known (``medclass explain`` always knows it), a CNN's layer is chosen by the resolution
of its feature map: the deepest stage (:func:`cam_candidate_layers`) whose grid has at least
:data:`MIN_CAM_GRID` cells on its shorter side. A CAM is one value per grid cell, upsampled: on ResNet-18's
``layer4`` at 128 px (a 4x4 grid of 32 px cells) its peak is a cell centre that can lie 16 px from a lesion
inside the cell, so small lesions are missed even when the right cell lights up (pointing game on phantoms
with lesions of 3-10% of the side: 14/40 at ``layer4``, 27/40 at ``layer3`` (8x8), 40/40 at ``layer2``
(16x16); see BENCHMARKS.md, "Explanations: localisation"). A warning is logged when the grid used is under
:data:`WARN_CAM_GRID` cells. Without an input size, and for transformers (whose patch grid is fixed), the
family's last stage in this table is used:

==========================================  ============================================================
model                                       target layer
==========================================  ============================================================
medclass custom CNN (``cnn``)               ``features.blockN.act``: the last conv block's activation,
                                            before its pooling (twice the resolution of the block output)
torchvision ResNet                          ``layer4``
torchvision VGG                             the last ReLU of ``features`` (before the final max-pool)
torchvision DenseNet                        ``features.norm5``
torchvision EfficientNet / MobileNetV3      the last child of ``features`` (the final 1x1 conv stage)
timm ViT / DeiT (patch tokens)              ``blocks.<last>.norm1``: the last block's output tokens reach
                                            the class token only through this block's attention, so the
                                            gradient at the block *output* is zero for every patch token
timm Swin and other timm models             the module of the last ``model.feature_info`` entry
anything else                               the last ``nn.Conv2d``
==========================================  ============================================================

Token reshape, derived from the model (no user code): a ViT-like model (``patch_embed.grid_size`` and
``num_prefix_tokens``) outputs ``(N, prefix + gh*gw, C)`` tokens; the prefix (class, distillation and register
tokens) is dropped and the rest laid out on the ``gh x gw`` patch grid. Models whose ``output_fmt`` is
``NHWC`` (timm Swin) output ``(N, H, W, C)`` from every non-conv module; those are permuted to ``(N, C, H, W)``.

Target semantics (what "explain class c" differentiates or scores), the same for every method:

- more than two logits: the raw logit of class c (before softmax), as in the Grad-CAM paper;
- two logits (binary softmax head): the margin ``z_c - z_other``, i.e. the log-odds of class c, which is all the
  softmax probability depends on (the logit alone can rise with evidence for both classes);
- one logit (binary sigmoid head, ``num_classes=1``): class index 1 (positive) is the logit as is, class index 0
  (negative) is the negated logit; the probability of the positive class is ``sigmoid(logit)``.

The default target is the predicted class.
"""

from __future__ import annotations

import difflib
import itertools
import logging
from dataclasses import dataclass, field
from typing import Any

import torch
import torchvision
from torch import nn

from medclass.models import CustomCNN

# Layers shown by the feature-maps method when a family has more stages than this.
MAX_STAGES = 5
# The automatic CAM layer is the deepest stage with at least this many cells on the shorter side of its grid
# (measured, see the module docstring), and a grid under WARN_CAM_GRID cells is warned about.
MIN_CAM_GRID = 16
WARN_CAM_GRID = 8

log = logging.getLogger(__name__)


@dataclass
class TargetLayer:
    """A layer to explain and how its output becomes an ``(N, C, h, w)`` tensor.

    Attributes:
        name: qualified module name in ``model.named_modules()``.
        module: the module itself.
        reshape: callable mapping the module output to ``(N, C, h, w)``, or None when it already is.
    """

    name: str
    module: nn.Module = field(repr=False)
    reshape: Any = None

    def to_nchw(self, output: torch.Tensor) -> torch.Tensor:
        """The module output as ``(N, C, h, w)``."""
        return self.reshape(output) if self.reshape is not None else output


class TokensToGrid:
    """``(N, prefix + gh*gw, C)`` transformer tokens -> ``(N, C, gh, gw)``, dropping the prefix tokens.

    Args:
        prefix: number of leading non-patch tokens (class, distillation, register tokens).
        grid: ``(gh, gw)`` patch grid.
    """

    def __init__(self, prefix: int, grid: tuple[int, int]) -> None:
        self.prefix = int(prefix)
        self.grid = (int(grid[0]), int(grid[1]))

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.ndim == 4:  # a conv inside the model (e.g. patch_embed.proj) is already NCHW
            return tokens
        if tokens.ndim != 3:
            raise ValueError(f"expected transformer tokens (N, tokens, C), got shape {tuple(tokens.shape)}")
        gh, gw = self.grid
        if tokens.shape[1] == gh * gw + self.prefix:
            patches = tokens[:, self.prefix :, :]
        elif tokens.shape[1] == gh * gw:  # before the prefix tokens are added (patch_embed)
            patches = tokens
        else:
            raise ValueError(
                f"{tokens.shape[1]} tokens do not fit {self.prefix} prefix token(s) + a {gh}x{gw} patch grid; "
                "explain images at the size the model was built for (data.image_size)"
            )
        return patches.reshape(tokens.shape[0], gh, gw, tokens.shape[2]).permute(0, 3, 1, 2)

    def __repr__(self) -> str:
        return f"TokensToGrid(prefix={self.prefix}, grid={self.grid})"


class ChannelsLastToFirst:
    """``(N, H, W, C)`` -> ``(N, C, H, W)`` for models that keep NHWC between stages (timm Swin)."""

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        if output.ndim != 4:
            raise ValueError(f"expected an NHWC feature map (N, H, W, C), got shape {tuple(output.shape)}")
        return output.permute(0, 3, 1, 2)

    def __repr__(self) -> str:
        return "ChannelsLastToFirst()"


def _patch_grid(model: nn.Module) -> tuple[int, int] | None:
    grid = getattr(getattr(model, "patch_embed", None), "grid_size", None)
    return (int(grid[0]), int(grid[1])) if grid is not None else None


def _is_token_model(model: nn.Module) -> bool:
    return _patch_grid(model) is not None and getattr(model, "output_fmt", "NCHW") != "NHWC"


def reshape_transform(model: nn.Module, module: nn.Module) -> Any:
    """The transform that turns ``module``'s output inside ``model`` into ``(N, C, h, w)`` (None: nothing to do).

    Derived from the model: token models get :class:`TokensToGrid` with ``model.num_prefix_tokens`` (default 1,
    the class token) and ``model.patch_embed.grid_size``; NHWC models get :class:`ChannelsLastToFirst` for
    every module that is not a convolution.
    """
    if isinstance(module, nn.Conv2d):
        return None
    if getattr(model, "output_fmt", "NCHW") == "NHWC":
        return ChannelsLastToFirst()
    if _is_token_model(model):
        prefix = getattr(
            model, "num_prefix_tokens", 1 if getattr(model, "cls_token", None) is not None else 0
        )
        return TokensToGrid(prefix, _patch_grid(model))
    return None


def _spread(names: list[str], k: int = MAX_STAGES) -> list[str]:
    """At most ``k`` of ``names``, evenly spaced, always keeping the last."""
    if len(names) <= k:
        return names
    step = (len(names) - 1) / (k - 1)
    return [names[round(i * step)] for i in range(k)]


def _timm_feature_modules(model: nn.Module) -> list[str]:
    info = getattr(model, "feature_info", None)
    if not isinstance(info, list):
        return []
    return [entry["module"] for entry in info if isinstance(entry, dict) and entry.get("module")]


def _vgg_before_pool(model: nn.Module) -> list[str]:
    children = list(model.features.named_children())
    return [
        f"features.{name}"
        for (name, module), (_, following) in itertools.pairwise(children)
        if isinstance(module, nn.ReLU) and isinstance(following, nn.MaxPool2d)
    ]


def stage_layers(model: nn.Module) -> list[str]:
    """Names of the model's stages from input to output (at most :data:`MAX_STAGES`), for feature maps.

    The last one is the default target layer except for token models (see :func:`default_target_layer`).
    """
    if isinstance(model, CustomCNN):
        return [f"features.{name}.act" for name, _ in model.features.named_children()]
    if isinstance(model, torchvision.models.ResNet):
        return ["layer1", "layer2", "layer3", "layer4"]
    if isinstance(model, torchvision.models.VGG):
        return _spread(_vgg_before_pool(model))
    if isinstance(model, torchvision.models.DenseNet):
        blocks = [f"features.{n}" for n, _ in model.features.named_children() if n.startswith("denseblock")]
        return [*blocks[:-1], "features.norm5"]
    timm_modules = _timm_feature_modules(model)
    if timm_modules:
        return _spread(timm_modules)
    features = getattr(model, "features", None)
    if isinstance(features, nn.Sequential) and len(features) > 0:
        return _spread([f"features.{name}" for name, _ in features.named_children()])
    convs = [name for name, module in model.named_modules() if isinstance(module, nn.Conv2d)]
    if not convs:
        raise ValueError(
            f"{type(model).__name__} has no conv layer or known stage to explain; pass --layer NAME"
        )
    return _spread(convs)


def cam_candidate_layers(model: nn.Module) -> list[str]:
    """Every stage of a CNN from input to output, among which the CAM layer is chosen by grid resolution.

    Like :func:`stage_layers` without thinning to :data:`MAX_STAGES` (EfficientNet's nine ``features``
    children all count). Empty for transformers (fixed patch grid) and unknown models.
    """
    if _is_token_model(model) or getattr(model, "output_fmt", "NCHW") == "NHWC":
        return []
    if isinstance(model, CustomCNN | torchvision.models.ResNet | torchvision.models.DenseNet):
        return stage_layers(model)
    if isinstance(model, torchvision.models.VGG):
        return _vgg_before_pool(model)
    timm_modules = _timm_feature_modules(model)
    if timm_modules:
        return timm_modules
    features = getattr(model, "features", None)
    if isinstance(features, nn.Sequential) and len(features) > 0:
        return [f"features.{name}" for name, _ in features.named_children()]
    return []


def _input_channels(model: nn.Module) -> int:
    first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return int(first.in_channels) if first is not None else 3


@torch.no_grad()
def feature_grids(
    model: nn.Module, layers: list[str], input_size: tuple[int, int]
) -> dict[str, tuple[int, int]]:
    """``(h, w)`` of each layer's output for one input of ``input_size``: one forward pass on zeros.

    Works on the meta device too (no values are computed there). Layers that produce no 4-D map are left out.
    """
    modules = dict(model.named_modules())
    grids: dict[str, tuple[int, int]] = {}
    handles = []

    def recorder(name: str):
        def hook(module: nn.Module, args: tuple, output: Any) -> None:
            if isinstance(output, torch.Tensor) and output.ndim == 4:
                grids[name] = (int(output.shape[-2]), int(output.shape[-1]))

        return hook

    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    probe = torch.zeros(1, _input_channels(model), *input_size, device=device)
    training = model.training
    try:
        handles = [modules[name].register_forward_hook(recorder(name)) for name in layers if name in modules]
        model.eval()(probe)
    finally:
        for handle in handles:
            handle.remove()
        model.train(training)
    return {name: grids[name] for name in layers if name in grids}


def layer_by_resolution(grids: dict[str, tuple[int, int]], min_grid: int = MIN_CAM_GRID) -> str:
    """The deepest layer of ``grids`` (ordered input to output) with ``min(h, w) >= min_grid``.

    When no layer reaches ``min_grid`` (a small input), the deepest of those with the finest grid.
    """
    if not grids:
        raise ValueError("no layer with a spatial feature map to choose from")
    fine_enough = [name for name, (h, w) in grids.items() if min(h, w) >= min_grid]
    if fine_enough:
        return fine_enough[-1]
    finest = max(min(h, w) for h, w in grids.values())
    return [name for name, (h, w) in grids.items() if min(h, w) == finest][-1]


def default_target_layer(model: nn.Module, input_size: int | tuple[int, int] | None = None) -> str:
    """The automatically chosen target layer's name (see the module docstring for the rule).

    Args:
        model: the network.
        input_size: the model input's side or ``(H, W)``; with it, a CNN's layer is chosen by the resolution
            of its feature map (:func:`layer_by_resolution`), without it the family's last stage.
    """
    if input_size is not None:
        size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
        candidates = cam_candidate_layers(model)
        grids = feature_grids(model, candidates, size) if candidates else {}
        if grids:
            return layer_by_resolution(grids)
    return last_stage_layer(model)


def last_stage_layer(model: nn.Module) -> str:
    """The family's last stage (the table in the module docstring), the layer used without an input size."""
    if _is_token_model(model):
        blocks = getattr(model, "blocks", None)
        if isinstance(blocks, nn.Sequential | nn.ModuleList) and len(blocks) > 0:
            last = len(blocks) - 1
            if hasattr(blocks[last], "norm1"):
                return f"blocks.{last}.norm1"
            return f"blocks.{last}"
    if isinstance(model, CustomCNN | torchvision.models.ResNet | torchvision.models.VGG):
        return stage_layers(model)[-1]
    if isinstance(model, torchvision.models.DenseNet):
        return "features.norm5"
    timm_modules = _timm_feature_modules(model)
    if timm_modules:
        return timm_modules[-1]
    features = getattr(model, "features", None)
    if isinstance(features, nn.Sequential) and len(features) > 0:
        return f"features.{len(features) - 1}"
    return stage_layers(model)[-1]


def resolve_target_layer(
    model: nn.Module, layer: str | None = None, input_size: int | tuple[int, int] | None = None
) -> TargetLayer:
    """The target layer ``layer`` (a module name) or the automatic one, with its reshape transform.

    Args:
        model: the network.
        layer: a module name, or None for :func:`default_target_layer`.
        input_size: the model input's side or ``(H, W)``: picks the automatic layer by resolution, and a
            warning is logged when the chosen layer's grid has fewer than :data:`WARN_CAM_GRID` cells a side.

    Raises:
        ValueError: ``layer`` is not a module of the model (the message suggests close names).
    """
    name = layer or default_target_layer(model, input_size)
    modules = dict(model.named_modules())
    if name not in modules or name == "":
        close = difflib.get_close_matches(name, [n for n in modules if n], n=5, cutoff=0.5)
        hint = f"; close names: {', '.join(close)}" if close else ""
        raise ValueError(
            f"--layer {name!r}: {type(model).__name__} has no such module{hint} "
            f"(default: {default_target_layer(model)})"
        )
    module = modules[name]
    target = TargetLayer(name=name, module=module, reshape=reshape_transform(model, module))
    if input_size is not None and not _is_token_model(model):
        size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
        grid = feature_grids(model, [name], size).get(name)
        if grid is not None and min(grid) < WARN_CAM_GRID:
            log.warning(
                "target layer %s is a %dx%d grid at %dx%d px: a CAM there cannot point at anything smaller "
                "than a cell (%d px); choose a finer --layer or a pixel method (saliency, occlusion)",
                name,
                grid[0],
                grid[1],
                size[0],
                size[1],
                size[0] // grid[0],
            )
    return target


def num_targets(num_outputs: int) -> int:
    """How many classes a head with ``num_outputs`` logits distinguishes (a one-logit head: two)."""
    return max(int(num_outputs), 2)


def target_scores(logits: torch.Tensor) -> torch.Tensor:
    """``(N, K)`` logits -> ``(N, max(K, 2))`` scores; column c is what "explain class c" means.

    See the module docstring: raw logits for K > 2, the margin ``z_c - z_other`` for K = 2,
    ``[-z, z]`` for K = 1.
    """
    if logits.ndim != 2:
        raise ValueError(f"expected logits (N, K), got shape {tuple(logits.shape)}")
    if logits.shape[1] == 1:
        return torch.cat([-logits, logits], dim=1)
    if logits.shape[1] == 2:
        margin = logits[:, 1:2] - logits[:, 0:1]
        return torch.cat([-margin, margin], dim=1)
    return logits


class TargetScores(nn.Module):
    """``model`` followed by :func:`target_scores`: the network every explanation method differentiates."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return target_scores(self.model(x))
