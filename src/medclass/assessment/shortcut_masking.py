"""Shortcut screens (b) and (c): does the trained model need the patient?

(b) The model scores the images with the body masked out (only background and borders left) and with the
background masked out (only the body left). Masking happens in the model's input space: the images go through
the one inference path (the checkpoint's preprocessing into the array cache), the body outline
(:func:`medclass.data.body_mask.body_mask`, Otsu) is drawn on the pixels the model sees, the masked pixels are
set to black (0, the background of most scans), and the result is normalised and decided exactly as
``predict`` does (:meth:`~medclass.inference.runner.Predictor.predict_tensor`). The measure is AUROC (with
balanced accuracy beside it): a masked image is unlike anything the model was trained on, so every score moves
and the decision at the stored threshold can fall to one class for all images although the scores still rank
the classes apart; the ranking is what says whether the label is still readable without the patient.

(c) The share of the default explanation's energy that falls outside the same outline, per image, against the
share of the image area outside it (what a flat map would give).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from medclass.data.body_mask import body_mask, energy_inside
from medclass.evaluation.bootstrap import BOOTSTRAP_SEED, bootstrap_ci
from medclass.inference.inputs import CachedImages, eval_transform
from medclass.inference.runner import Predictor
from medclass.transforms.tensor import to_chw_tensor

# The fill value of masked pixels (uint8, before normalisation).
MASK_FILL = 0
BATCH = 64
CONDITIONS = ("original", "masked_anatomy", "masked_background")


def masked_pixels(pixels: np.ndarray, mask: np.ndarray, condition: str) -> np.ndarray:
    """``pixels`` (uint8 ``H x W x C``) with the body (``masked_anatomy``) or the background
    (``masked_background``) set to :data:`MASK_FILL`; ``original`` unchanged."""
    out = np.array(pixels)
    if condition == "masked_anatomy":
        out[mask] = MASK_FILL
    elif condition == "masked_background":
        out[~mask] = MASK_FILL
    elif condition != "original":
        raise ValueError(f"condition {condition!r}: expected one of {CONDITIONS}")
    return out


def outlines(images: CachedImages) -> list[np.ndarray]:
    """The body outline of each readable image, drawn on the pixels the model sees."""
    return [body_mask(images.pixels(i)) for i in range(len(images.rows))]


def condition_probs(
    predictor: Predictor, images: CachedImages, masks: Sequence[np.ndarray], condition: str
) -> np.ndarray:
    """``(N, K)`` probabilities of the model for every readable image under ``condition``."""
    transform = eval_transform(predictor.meta)
    chunks = []
    for start in range(0, len(masks), BATCH):
        batch = [
            transform(to_chw_tensor(masked_pixels(images.pixels(i), masks[i], condition)))
            for i in range(start, min(start + BATCH, len(masks)))
        ]
        chunks.append(predictor.predict_tensor(torch.stack(batch))[0])
    return np.concatenate(chunks) if chunks else np.zeros((0, len(predictor.classes)))


def condition_metrics(
    predictor: Predictor, y: np.ndarray, probs: np.ndarray, n_resamples: int
) -> dict[str, dict[str, float | None]]:
    """AUROC (macro one-vs-rest for more than two classes) and balanced accuracy at the model's decision rule,
    each with its stratified bootstrap 95% CI."""
    decision = predictor.meta.decision
    ci = bootstrap_ci(
        y,
        probs,
        predictor.classes,
        n_resamples,
        BOOTSTRAP_SEED,
        threshold=decision.threshold,
        positive_index=decision.positive_index,
    )
    return {"auroc": ci["auroc"], "balanced_accuracy": ci["balanced_accuracy"]}


@dataclass
class MaskedScores:
    """``{condition: {"auroc", "balanced_accuracy"}}`` (value, ci_low, ci_high) for each of :data:`CONDITIONS`,
    and the outlines' median area share."""

    scores: dict[str, dict[str, dict[str, float | None]]]
    body_area: float


def masked_scores(
    predictor: Predictor, images: CachedImages, y: np.ndarray, masks: Sequence[np.ndarray], n_resamples: int
) -> MaskedScores:
    """Score the model on the original, anatomy-masked and background-masked images."""
    scores = {
        condition: condition_metrics(
            predictor, y, condition_probs(predictor, images, masks, condition), n_resamples
        )
        for condition in CONDITIONS
    }
    return MaskedScores(scores, float(np.median([m.mean() for m in masks])) if masks else 0.0)


# ``class_maps(model, meta, inputs, targets)`` returning an object with ``maps`` ``(N, H, W)``, ``method`` and
# ``layer_name``: explain's ``default_class_maps``, handed in by the api (feature packages never import each
# other).
ClassMaps = Callable[..., object]


@dataclass
class OutsideShares:
    """Per explained image: the share of the map's energy outside the outline, and of the area outside it."""

    energy: np.ndarray
    area: np.ndarray
    method: str
    layer: str
    maps: np.ndarray
    indices: list[int]


def outside_shares(
    predictor: Predictor,
    images: CachedImages,
    masks: Sequence[np.ndarray],
    class_maps: ClassMaps,
    indices: Sequence[int],
) -> OutsideShares:
    """The default explanation of each image's predicted class at ``indices``, and its energy outside the body."""
    indices = list(indices)
    energy, area, maps_all = [], [], []
    method = layer = ""
    for start in range(0, len(indices), BATCH):
        chunk = indices[start : start + BATCH]
        inputs = images.tensor(chunk, predictor.meta)
        _, predicted = predictor.predict_tensor(inputs)
        result = class_maps(
            predictor.model, predictor.meta, inputs.to(predictor.device), [int(p) for p in predicted]
        )
        maps = np.asarray(result.maps, dtype=np.float64)
        method, layer = str(result.method), str(result.layer_name)
        for heat, i in zip(maps, chunk, strict=True):
            energy.append(1.0 - energy_inside(heat, masks[i]))
            area.append(1.0 - float(masks[i].mean()))
        maps_all.append(maps)
    stacked = np.concatenate(maps_all) if maps_all else np.zeros((0, 1, 1))
    return OutsideShares(np.array(energy), np.array(area), method, layer, stacked, indices)


def median_ci(values: np.ndarray, n_resamples: int, seed: int = BOOTSTRAP_SEED) -> dict[str, float | None]:
    """The median of ``values`` with its percentile-bootstrap 95% CI (None entries for no values)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return {"value": None, "ci_low": None, "ci_high": None}
    rng = np.random.default_rng(seed)
    medians = np.median(values[rng.integers(0, values.size, size=(n_resamples, values.size))], axis=1)
    low, high = np.percentile(medians, [2.5, 97.5])
    return {"value": float(np.median(values)), "ci_low": float(low), "ci_high": float(high)}


def explained_indices(y: np.ndarray, limit: int, seed: int) -> list[int]:
    """Up to ``limit`` image indices, a seeded random sample (all of them when there are fewer), in input order."""
    if len(y) <= limit:
        return list(range(len(y)))
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(y), size=limit, replace=False)
    return sorted(int(i) for i in picked)
