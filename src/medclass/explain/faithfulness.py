"""Faithfulness without boxes: deletion and insertion curves of an attribution map (Petsiuk et al. 2018, RISE).

- Deletion: the pixels are replaced by the baseline in the map's order, most attributed first, and the
  probability of the explained class is read after every ``1/steps`` of the pixels. A map that points at
  what the model uses makes the probability fall fast: a **low** deletion AUC is good.
- Insertion: start from the baseline and put the original pixels back in the same order: a **high**
  insertion AUC is good.

The AUC is the trapezoid area under probability against the fraction of pixels changed, in [0, 1]. Pixels
with equal map values are taken in a fixed pseudo-random order (not raster order, which would favour the
top rows of flat maps). The probability is that of the class explained (see ``explain.targets``: softmax for
more than two logits, the sigmoid of the binary margin otherwise), without the checkpoint's temperature
(a monotone rescaling that moves the curve but not which map is better).

Written here because neither pytorch-grad-cam (its metrics remove one fixed percentile: ROAD, confidence
change) nor captum has the two curves; Quantus has pixel flipping but would add a large dependency for
thirty lines.

A curve alone says little: :func:`random_order_gap` runs the same curves with random pixel orders and reports,
per image, how much faster the map's deletion falls (``random deletion AUC - deletion AUC``) and how much
faster its insertion rises (``insertion AUC - random insertion AUC``); :func:`mean_ci` gives the mean gap with
a percentile-bootstrap interval. A map beats random by a clear margin when the interval excludes 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from medclass.evaluation.bootstrap import BOOTSTRAP_SEED
from medclass.inference.torch_decision import torch_probabilities

FAITHFULNESS_STEPS = 16


@dataclass
class FaithfulnessCurves:
    """Per-image curves and their areas.

    Attributes:
        fractions: ``(steps + 1,)`` fraction of the pixels changed at each point.
        deletion: ``(N, steps + 1)`` class probability as the most-attributed pixels are removed.
        insertion: ``(N, steps + 1)`` class probability as they are put back into the baseline.
        deletion_auc: ``(N,)`` area under ``deletion`` (lower: the map found what the model uses).
        insertion_auc: ``(N,)`` area under ``insertion`` (higher is better).
    """

    fractions: np.ndarray
    deletion: np.ndarray
    insertion: np.ndarray
    deletion_auc: np.ndarray
    insertion_auc: np.ndarray


def class_probability(logits: torch.Tensor, targets: Sequence[int]) -> torch.Tensor:
    """``(N,)`` probability of ``targets`` from ``(N, K)`` logits, for one-, two- and many-logit heads."""
    index = torch.as_tensor(list(targets), device=logits.device).long()[:, None]
    return torch_probabilities(logits).gather(1, index)[:, 0]


def pixel_order(heat: np.ndarray, seed: int = 0) -> np.ndarray:
    """Flat pixel indices of ``heat`` from the most to the least attributed; ties in a seeded random order."""
    flat = np.asarray(heat, dtype=np.float64).ravel()
    tie_break = np.random.default_rng(seed).random(flat.size)
    return np.lexsort((tie_break, -flat))


@torch.no_grad()
def deletion_insertion(
    model: nn.Module,
    inputs: torch.Tensor,
    maps: np.ndarray,
    targets: Sequence[int],
    baseline: torch.Tensor | None = None,
    steps: int = FAITHFULNESS_STEPS,
) -> FaithfulnessCurves:
    """Deletion and insertion curves of ``maps`` for a batch (see the module docstring).

    Args:
        model: the classifier in eval mode.
        inputs: normalised inputs ``(N, C, H, W)`` on the model's device.
        maps: ``(N, H, W)`` attributions, higher = more important (signed maps: their positive end first).
        targets: the class explained per image.
        baseline: what removed pixels become, ``(C, H, W)`` or ``(N, C, H, W)``; default zeros.
        steps: points of each curve after the start (``steps + 1`` forward passes per curve and image).

    Returns:
        The curves and their AUCs.

    Raises:
        ValueError: shapes that do not match or ``steps < 1``.
    """
    maps = np.asarray(maps)
    n, _, height, width = inputs.shape
    if maps.shape != (n, height, width):
        raise ValueError(
            f"maps of shape {maps.shape} for inputs {tuple(inputs.shape)}: expected {(n, height, width)}"
        )
    if len(targets) != n or steps < 1:
        raise ValueError(
            f"{len(targets)} targets for {n} images and steps={steps}: one target each, steps >= 1"
        )
    base = torch.zeros_like(inputs) if baseline is None else baseline.to(inputs).expand_as(inputs)
    fractions = np.linspace(0.0, 1.0, steps + 1)
    counts = np.round(fractions * height * width).astype(np.int64)
    model.eval()
    curves = {"deletion": np.zeros((n, steps + 1)), "insertion": np.zeros((n, steps + 1))}
    for i in range(n):
        order = torch.as_tensor(pixel_order(maps[i], seed=i), device=inputs.device)
        # masks[k] marks the first counts[k] pixels of the order: one (steps + 1, 1, H, W) batch per curve.
        rank = torch.empty(height * width, dtype=torch.long, device=inputs.device)
        rank[order] = torch.arange(height * width, device=inputs.device)
        limits = torch.as_tensor(counts, device=inputs.device)[:, None]
        masks = (rank[None, :] < limits).reshape(steps + 1, 1, height, width).to(inputs.dtype)
        image, empty = inputs[i : i + 1], base[i : i + 1]
        for name, batch in (
            ("deletion", image * (1 - masks) + empty * masks),
            ("insertion", empty * (1 - masks) + image * masks),
        ):
            probs = class_probability(model(batch).float(), [targets[i]] * (steps + 1))
            curves[name][i] = probs.cpu().numpy()
    return FaithfulnessCurves(
        fractions=fractions,
        deletion=curves["deletion"],
        insertion=curves["insertion"],
        deletion_auc=np.trapezoid(curves["deletion"], fractions, axis=1),
        insertion_auc=np.trapezoid(curves["insertion"], fractions, axis=1),
    )


def blurred_baseline(inputs: torch.Tensor, sigma_fraction: float = 1 / 16) -> torch.Tensor:
    """A blurred copy of ``inputs`` (Gaussian, sigma a fraction of the side): the baseline that removes detail
    without the out-of-distribution black patches of a constant baseline."""
    side = min(inputs.shape[-2:])
    sigma = max(sigma_fraction * side, 0.5)
    radius = int(3 * sigma)
    grid = torch.arange(-radius, radius + 1, dtype=inputs.dtype, device=inputs.device)
    kernel = torch.exp(-(grid**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = inputs.shape[1]
    x = torch.nn.functional.pad(inputs, (radius, radius, radius, radius), mode="reflect")
    x = torch.nn.functional.conv2d(x, kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    return torch.nn.functional.conv2d(x, kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)


@dataclass
class FaithfulnessGap:
    """A map's curves against random orders, per image.

    Attributes:
        curves: the map's curves.
        random: the curves of random pixel orders (one per image, seeded).
        deletion_gap: ``(N,)`` random deletion AUC minus the map's (positive: the map is better).
        insertion_gap: ``(N,)`` the map's insertion AUC minus random's (positive: the map is better).
    """

    curves: FaithfulnessCurves
    random: FaithfulnessCurves
    deletion_gap: np.ndarray
    insertion_gap: np.ndarray


def random_order_gap(
    model: nn.Module,
    inputs: torch.Tensor,
    maps: np.ndarray,
    targets: Sequence[int],
    baseline: torch.Tensor | None = None,
    steps: int = FAITHFULNESS_STEPS,
    seed: int = 0,
) -> FaithfulnessGap:
    """Deletion and insertion of ``maps`` and of random maps (seeded per image) on the same images, and the gaps.

    Args are those of :func:`deletion_insertion`; ``seed`` draws the random orders.
    """
    curves = deletion_insertion(model, inputs, maps, targets, baseline, steps)
    noise = np.random.default_rng(seed).random(np.shape(maps)).astype(np.float32)
    random = deletion_insertion(model, inputs, noise, targets, baseline, steps)
    return FaithfulnessGap(
        curves=curves,
        random=random,
        deletion_gap=random.deletion_auc - curves.deletion_auc,
        insertion_gap=curves.insertion_auc - random.insertion_auc,
    )


def mean_ci(
    values: Sequence[float] | np.ndarray,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of ``values`` and its percentile-bootstrap interval over the images.

    Raises:
        ValueError: no values.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no values to average")
    draws = np.random.default_rng(seed).integers(0, values.size, size=(n_resamples, values.size))
    means = values[draws].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(values.mean()), float(low), float(high)
