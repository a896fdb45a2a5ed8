"""How good an explanation method is on a model: the sanity checks, faithfulness, localisation inside the body
outline and readability of its maps, for a batch of images (``medclass explain --sanity`` and
``benchmarks/explain_quality.py``).

A method is named ``method`` or ``method@layer`` (``gradcam@layer3``); without a layer, a CAM takes the layer of
``explain.targets`` at the input's size. Every measure explains the same class per image (the caller's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from medclass.data.body_mask import body_mask, energy_inside
from medclass.explain.cam import CAM_METHODS
from medclass.explain.faithfulness import mean_ci, random_order_gap
from medclass.explain.feature_maps import capture_activations
from medclass.explain.methods import explanation_maps
from medclass.explain.readability import readability
from medclass.explain.sanity import (
    MapFunction,
    SanityRow,
    data_randomisation,
    edge_filter_maps,
    model_randomisation,
)
from medclass.explain.targets import resolve_target_layer

# The control of the benchmark: a map that ignores the model (must fail the sanity check).
EDGE_FILTER = "edge-filter"


@dataclass(frozen=True)
class Candidate:
    """A method at a layer (``layer`` None: the automatic one for CAMs, the input for pixel attributions)."""

    method: str
    layer: str | None = None

    @classmethod
    def parse(cls, text: str) -> Candidate:
        """``"gradcam@layer3"`` -> ``Candidate("gradcam", "layer3")``; ``"saliency"`` -> no layer."""
        method, _, layer = text.partition("@")
        return cls(method, layer or None)

    def layer_name(self, model: nn.Module, input_size: int) -> str:
        """The layer the maps are taken at (``input`` for pixel attributions and the edge filter)."""
        if self.method not in CAM_METHODS:
            return self.layer or "input"
        return resolve_target_layer(model, self.layer, input_size).name

    def maps_function(self, input_size: int, baseline: torch.Tensor | None = None) -> MapFunction:
        """``maps_of(model, inputs, targets)``: this candidate's maps, its layer found by name in the model
        given (so the randomised copies of the sanity check are explained at the same layer)."""
        if self.method == EDGE_FILTER:
            return edge_filter_maps

        def maps_of(model: nn.Module, inputs: torch.Tensor, targets: Sequence[int]) -> np.ndarray:
            layer = None
            if self.method in CAM_METHODS or self.layer:
                layer = resolve_target_layer(model, self.layer, input_size)
            return explanation_maps(model, inputs, list(targets), self.method, layer, baseline)[0]

        return maps_of


def layer_stride(model: nn.Module, layer: str, input_size: int, inputs: torch.Tensor) -> int:
    """Input pixels per cell of ``layer``'s feature map (1 for the input itself)."""
    if layer == "input":
        return 1
    activations = capture_activations(model, inputs[:1], [resolve_target_layer(model, layer, input_size)])
    grid = next(iter(activations.values()))
    return max(input_size // int(grid.shape[-1]), 1)


def sanity_rows(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: Sequence[int],
    maps_of: MapFunction,
    trained_maps: np.ndarray,
    shuffled: nn.Module | None = None,
    seed: int = 0,
    cascading: bool = True,
) -> list[SanityRow]:
    """The cascading (unless ``cascading`` is off) and full model-randomisation rows, and the
    data-randomisation row when a model trained on shuffled labels is given."""
    rows = model_randomisation(model, inputs, targets, maps_of, trained_maps, seed, cascading=cascading)
    if shuffled is not None:
        rows.append(data_randomisation(model, shuffled, inputs, targets, maps_of, trained_maps))
    return rows


def quality_row(
    model: nn.Module,
    inputs: torch.Tensor,
    pixels: Sequence[np.ndarray],
    targets: Sequence[int],
    candidate: Candidate,
    input_size: int,
    baseline: torch.Tensor,
    shuffled: nn.Module | None = None,
    faithfulness: bool = True,
    cascading: bool = True,
) -> tuple[dict[str, object], np.ndarray]:
    """The four measures of ``candidate`` on a batch, and its maps.

    Args:
        model: the trained classifier (eval mode).
        inputs: normalised inputs ``(N, C, H, W)``.
        pixels: the uint8 images the model saw (for the body outline).
        targets: the class explained per image.
        candidate: the method and layer.
        input_size: the model's input side.
        baseline: what deleted pixels become in the faithfulness curves.
        shuffled: a model trained on shuffled labels (the data-randomisation check), if any.
        faithfulness: measure the deletion and insertion gaps (4 curves of 17 forward passes per image).
        cascading: run the cascading randomisation too (the row reads only the full one).

    Returns:
        One table row: ``method, layer``, the sanity medians (``full_spearman``, ``full_ssim``,
        ``data_spearman``), the deletion and insertion gaps to random order with 95% CIs, the median energy
        inside the body outline and the outline's median area share, the median lattice energy and TV ratio.
    """
    maps_of = candidate.maps_function(input_size, baseline)
    maps = maps_of(model, inputs, targets)
    sanity = {
        row.check: row.summary()
        for row in sanity_rows(model, inputs, targets, maps_of, maps, shuffled, cascading=cascading)
    }
    masks = [
        body_mask(p, threshold=0.1) for p in pixels
    ]  # the share the benchmark numbers were measured with
    layer = candidate.layer_name(model, input_size)
    row: dict[str, object] = {
        "method": candidate.method,
        "layer": layer,
        "full_spearman": sanity["full"]["median_spearman"],
        "full_ssim": sanity["full"]["median_ssim"],
        "data_spearman": sanity["data"]["median_spearman"] if "data" in sanity else float("nan"),
    }
    if faithfulness:
        gap = random_order_gap(model, inputs, maps, targets, baseline)
        for name, values in (("deletion_gap", gap.deletion_gap), ("insertion_gap", gap.insertion_gap)):
            mean, low, high = mean_ci(values)
            row.update({name: mean, f"{name}_low": low, f"{name}_high": high})
    row["energy_inside"] = float(np.median([energy_inside(m, k) for m, k in zip(maps, masks, strict=True)]))
    row["area_inside"] = float(np.median([k.mean() for k in masks]))
    stride = layer_stride(model, layer, input_size, inputs) if candidate.method in CAM_METHODS else 1
    row.update(readability(list(maps), max(stride, 2)))
    return row, maps
