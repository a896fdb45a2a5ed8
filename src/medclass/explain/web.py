"""The default explanation as images for a web page: the image as the model saw it and an RGBA heat map, base64
PNGs. The serve page's map is the one ``medclass explain`` and the report's error panel draw for the same model
(:func:`medclass.explain.methods.default_method` at its automatic layer); its JSON key stays ``gradcam``."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from medclass.explain.methods import default_method, explanation_maps, plan_explanation
from medclass.inference.inputs import load_images


def png_base64(array: np.ndarray) -> str:
    """A uint8 ``H x W``, ``H x W x 3`` or ``H x W x 4`` array as a base64 PNG."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def heat_rgba(cam: np.ndarray) -> np.ndarray:
    """A [0, 1] map as an RGBA jet heat map whose alpha follows the map (cold regions stay see-through)."""
    from matplotlib import colormaps

    level = np.clip(cam, 0.0, 1.0)
    rgba = colormaps["jet"](level)
    rgba[..., 3] = level**0.5
    return (rgba * 255).astype(np.uint8)


def unit_maps(maps: np.ndarray) -> np.ndarray:
    """Maps as [0, 1] per image: the positive part over its maximum (CAMs are already so scaled)."""
    positive = np.clip(np.asarray(maps, dtype=np.float32), 0.0, None)
    peak = positive.reshape(len(positive), -1).max(axis=1).reshape(-1, 1, 1)
    return np.divide(positive, peak, out=np.zeros_like(positive), where=peak > 0)


def default_explanations(
    predictor: Any, paths: Sequence[str], targets: Sequence[int], cache_dir: str | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(pixels, map)`` per readable file of ``paths``: the image as the model saw it (uint8 ``H x W x C``) and
    the model's default explanation of class ``targets[i]`` ([0, 1], ``H x W``); ``cache_dir``: the array cache
    the request's prediction filled (not decoded again)."""
    images = load_images(list(paths), predictor.meta, cache_dir=cache_dir)
    inputs = images.tensor(range(len(images.rows)), predictor.meta).to(predictor.device)
    model = predictor.model
    plan = plan_explanation(model, predictor.meta, default_method(model), None, None)
    maps = unit_maps(
        explanation_maps(model, inputs, list(targets), plan.method, plan.layer, plan.baseline)[0]
    )
    return [(images.pixels(i), maps[i]) for i in range(len(images.rows))]


def explanation_pngs(
    predictor: Any, paths: Sequence[str], targets: Sequence[int], cache_dir: str | None = None
) -> list[tuple[str, str]]:
    """``(image, heat map)`` base64 PNGs per readable file of ``paths``: see :func:`default_explanations`."""
    return [
        (png_base64(pixels[..., 0] if pixels.shape[-1] == 1 else pixels), png_base64(heat_rgba(cam)))
        for pixels, cam in default_explanations(predictor, paths, targets, cache_dir)
    ]


def explanation_overlays(predictor: Any, paths: Sequence[str], targets: Sequence[int]) -> list[np.ndarray]:
    """The default explanation blended over the image as the model saw it: uint8 ``H x W x 3`` per readable
    file (the heat map's alpha, which follows the map, weighs it over the grey or colour image)."""
    overlays = []
    for pixels, cam in default_explanations(predictor, paths, targets):
        image = np.repeat(pixels, 3, axis=-1) if pixels.shape[-1] == 1 else pixels[..., :3]
        heat = heat_rgba(cam).astype(np.float32)
        alpha = heat[..., 3:] / 255.0
        overlays.append((image * (1 - alpha) + heat[..., :3] * alpha).round().astype(np.uint8))
    return overlays
