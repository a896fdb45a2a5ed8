"""Sanity checks for saliency maps (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018).

A map that explains the model's decision must change when what the model learnt is destroyed:

- **model randomisation, cascading**: the trained model's parameter blocks are re-initialised one after the
  other from the output down (``fc``, then ``fc`` and ``layer4``, ...), and the maps of the same images for the
  same classes are recomputed after every step;
- **model randomisation, full**: every parameter re-initialised (the last cascading step, and
  :data:`FULL_DRAWS` - 1 more independent draws, pooled);
- **data randomisation**: the maps of a model of the same architecture trained on the same images with the
  labels shuffled (the caller trains it; ``medclass explain --sanity --shuffled-model CKPT``).

Each step is compared with the trained model's maps by the Spearman rank correlation and the SSIM of the two
maps, per image, and summarised by the median over the images. A method passes when the median Spearman of
the full randomisation is at most :data:`SPEARMAN_LIMIT` (0.3, the bar of issue 27): an edge filter of the
input (:func:`edge_filter_maps`, which ignores the model) scores 1.0 and fails, as it should.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage, stats
from torch import nn

# A map whose trained and fully randomised versions correlate above this (median Spearman) fails the check.
SPEARMAN_LIMIT = 0.3
# Independent full randomisations pooled in the check's ``full`` row (see model_randomisation).
FULL_DRAWS = 3
SANITY_FILE = "sanity.csv"
SANITY_COLUMNS = ["check", "randomised", "n", "median_spearman", "median_ssim", "passes"]
# SSIM constants of Wang et al. 2004 for maps scaled to [0, 1], with their 11-tap Gaussian window (sigma 1.5).
SSIM_C1, SSIM_C2, SSIM_SIGMA = 0.01**2, 0.03**2, 1.5

# Children that hold a whole trunk as a sequence of stages (torchvision's ``features``, timm's ``blocks``,
# ``stages`` and ``layers``): each stage is a block of its own in the cascading randomisation.
TRUNKS = ("features", "blocks", "stages", "layers")

MapFunction = Callable[[nn.Module, torch.Tensor, Sequence[int]], np.ndarray]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps' pixels; 0.0 when either map is constant (it ranks nothing)."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"maps of {a.size} and {b.size} pixels cannot be compared")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(stats.spearmanr(a, b).statistic)


def _unit(heat: np.ndarray) -> np.ndarray:
    heat = np.asarray(heat, np.float64)
    span = np.ptp(heat)
    return (heat - heat.min()) / span if span > 0 else np.zeros_like(heat)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity (Wang et al. 2004) of two 2-D maps, each min-max scaled to [0, 1] first."""
    a, b = _unit(a), _unit(b)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"maps of shapes {a.shape} and {b.shape}: expected two equal 2-D shapes")

    def blur(x: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(x, SSIM_SIGMA, truncate=3.5)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    index = ((2 * mu_a * mu_b + SSIM_C1) * (2 * cov + SSIM_C2)) / (
        (mu_a**2 + mu_b**2 + SSIM_C1) * (var_a + var_b + SSIM_C2)
    )
    return float(index.mean())


@dataclass
class SanityRow:
    """One comparison with the trained model's maps.

    Attributes:
        check: ``cascading``, ``full`` or ``data``.
        randomised: what was re-initialised (block names, top first) or ``labels shuffled``.
        spearman: ``(N,)`` per-image Spearman correlations.
        ssim: ``(N,)`` per-image SSIMs.
    """

    check: str
    randomised: str
    spearman: np.ndarray
    ssim: np.ndarray

    def summary(self) -> dict[str, object]:
        """The row of ``sanity.csv``: medians over the images and whether they pass :data:`SPEARMAN_LIMIT`."""
        rho = float(np.median(self.spearman))
        return {
            "check": self.check,
            "randomised": self.randomised,
            "n": len(self.spearman),
            "median_spearman": rho,
            "median_ssim": float(np.median(self.ssim)),
            "passes": bool(rho <= SPEARMAN_LIMIT),
        }


def compare_maps(check: str, randomised: str, trained: np.ndarray, other: np.ndarray) -> SanityRow:
    """Per-image Spearman and SSIM of ``other`` against the ``trained`` maps (both ``(N, H, W)``)."""
    trained, other = np.asarray(trained), np.asarray(other)
    if trained.shape != other.shape:
        raise ValueError(f"maps of shapes {trained.shape} and {other.shape} cannot be compared")
    rho = np.array([spearman(a, b) for a, b in zip(trained, other, strict=True)])
    sim = np.array([ssim(a, b) for a, b in zip(trained, other, strict=True)])
    return SanityRow(check, randomised, rho, sim)


def parameter_blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's parameter blocks from the output down: its children, a ``Sequential``/``ModuleList`` child
    that holds the whole trunk (named in :data:`TRUNKS`) split into its own children (ResNet: ``fc, layer4,
    layer3, layer2, layer1, bn1, conv1``; DenseNet, EfficientNet and the custom CNN: the head, then each child
    of ``features`` from the top; ViT: ``head, norm, blocks.11 ... blocks.0, patch_embed``). Blocks without
    parameters are left out."""
    blocks: list[tuple[str, nn.Module]] = []
    for name, child in model.named_children():
        if name in TRUNKS and isinstance(child, nn.Sequential | nn.ModuleList) and len(child) > 1:
            blocks += [(f"{name}.{sub}", grandchild) for sub, grandchild in child.named_children()]
        else:
            blocks.append((name, child))
    return [(name, block) for name, block in reversed(blocks) if any(True for _ in block.parameters())]


@torch.no_grad()
def randomise(module: nn.Module, generator: torch.Generator) -> None:
    """Re-initialise every parameter of ``module`` in place: each submodule's own ``reset_parameters`` (its
    constructor's initialisation; batch norm also forgets its running statistics), drawn from ``generator``;
    parameters no submodule resets (a ViT's position embedding, class token, layer scale) get N(0, 0.02)."""
    reset: set[int] = set()
    state = torch.random.get_rng_state()
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
    try:
        for sub in module.modules():
            if hasattr(sub, "reset_parameters"):
                sub.reset_parameters()
                reset |= {id(p) for p in sub.parameters(recurse=False)}
            if hasattr(sub, "reset_running_stats"):
                sub.reset_running_stats()
        for param in module.parameters():
            if id(param) not in reset:
                param.copy_(0.02 * torch.randn(param.shape, generator=generator))
    finally:
        torch.random.set_rng_state(state)


def model_randomisation(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: Sequence[int],
    maps_of: MapFunction,
    trained_maps: np.ndarray | None = None,
    seed: int = 0,
    draws: int = FULL_DRAWS,
    cascading: bool = True,
) -> list[SanityRow]:
    """Cascading randomisation from the output down, then the full one, on copies of ``model``.

    The full randomisation is drawn ``draws`` times (seeds ``seed``, ``seed + 1``, ...) and its row pools the
    per-image values of every draw: one draw can happen to flip the sign of a class score (Grad-CAM of the
    random model is then empty, or else follows the anatomy like the trained one), so one draw alone is luck.

    Args:
        model: the trained classifier (left unchanged).
        inputs: normalised inputs ``(N, C, H, W)`` on the model's device.
        targets: the class explained per image (kept for every randomised model).
        maps_of: ``maps_of(model, inputs, targets) -> (N, H, W)``; it must find its layer in the model it is
            given (by name), since each step explains a copy.
        trained_maps: the trained model's maps, if already computed.
        seed: seed of the re-initialisation (the cascade and the first full draw).
        draws: independent full randomisations pooled in the ``full`` row.
        cascading: run the cascade (one map per block); without it only the ``full`` row is computed, its
            first draw re-initialising a copy at once from ``seed`` (a benchmark of many candidates on a deep
            model reads only that row: DenseNet-121's cascade is 11 more maps per image).

    Returns:
        One ``cascading`` row per block (``randomised``: the blocks re-initialised so far, top first), then one
        ``full`` row (``N * draws`` values).
    """
    trained = maps_of(model, inputs, targets) if trained_maps is None else np.asarray(trained_maps)
    generator = torch.Generator().manual_seed(seed)
    shadow = copy.deepcopy(model).eval()
    rows, done = [], []
    for name, block in parameter_blocks(shadow) if cascading else []:
        randomise(block, generator)
        done.append(name)
        label = name if len(done) == 1 else f"{done[0]} .. {name}"
        rows.append(compare_maps("cascading", label, trained, maps_of(shadow, inputs, targets)))
    randomise(shadow, generator)  # anything the blocks did not cover (parameters held by the model itself)
    full = [compare_maps("full", "all parameters", trained, maps_of(shadow, inputs, targets))]
    for draw in range(1, draws):
        shadow = copy.deepcopy(model).eval()
        randomise(shadow, torch.Generator().manual_seed(seed + draw))
        full.append(compare_maps("full", "all parameters", trained, maps_of(shadow, inputs, targets)))
    return rows + merge_rows([[row] for row in full])


def data_randomisation(
    model: nn.Module,
    shuffled: nn.Module,
    inputs: torch.Tensor,
    targets: Sequence[int],
    maps_of: MapFunction,
    trained_maps: np.ndarray | None = None,
) -> SanityRow:
    """The ``data`` row: ``model``'s maps against those of ``shuffled`` (same architecture, trained on the same
    images with shuffled labels) for the same images and classes."""
    trained = maps_of(model, inputs, targets) if trained_maps is None else np.asarray(trained_maps)
    return compare_maps("data", "labels shuffled", trained, maps_of(shuffled.eval(), inputs, targets))


def edge_filter_maps(model: nn.Module, inputs: torch.Tensor, targets: Sequence[int]) -> np.ndarray:
    """A deliberately degenerate "explanation": the Sobel gradient magnitude of the input, channel-summed,
    which ignores the model and the class. It must fail the randomisation check (tests use it as the control).
    """
    image = inputs.detach().float().sum(dim=1).cpu().numpy()
    return np.stack([np.hypot(ndimage.sobel(x, 0), ndimage.sobel(x, 1)) for x in image]).astype(np.float32)


def merge_rows(batches: Sequence[Sequence[SanityRow]]) -> list[SanityRow]:
    """The rows of several batches of images (the same checks in the same order) as one row per check."""
    merged: dict[tuple[str, str], SanityRow] = {}
    for rows in batches:
        for row in rows:
            key = (row.check, row.randomised)
            if key in merged:
                old = merged[key]
                merged[key] = SanityRow(
                    row.check,
                    row.randomised,
                    np.concatenate([old.spearman, row.spearman]),
                    np.concatenate([old.ssim, row.ssim]),
                )
            else:
                merged[key] = row
    return list(merged.values())


def sanity_table(rows: Sequence[SanityRow]) -> list[dict[str, object]]:
    """The rows of ``sanity.csv`` (:data:`SANITY_COLUMNS`)."""
    return [row.summary() for row in rows]
