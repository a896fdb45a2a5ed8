"""Explain image files: the maps, overlays and index of ``medclass explain`` (and its sanity table), and the maps
of the localisation check. ``medclass.api.explain`` orchestrates; the array and model work is here.

Per input image, named after the file's stem (``_2``, ``_3`` ... appended when two inputs share a stem):

- ``<stem>.png``: the preprocessed image (what the model saw) beside the same image under the heat map, titled
  with the file, the predicted class and its confidence (and the true class when the folder names it);
- ``<stem>.npy``: the raw map, 2-D, at the model input's height and width;
- ``<stem>_layers.png`` (``feature-maps`` only): the activation grid of each stage;

plus ``explanations.csv`` indexing the batch (one row per input; unreadable files get an ``error`` row) and, with
the sanity check, ``sanity.csv`` (``explain.sanity``).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from medclass.data.readers import image_info
from medclass.explain.attribution import SIGNED_METHODS
from medclass.explain.faithfulness import deletion_insertion
from medclass.explain.localisation import Box, pointing_game, scaled_box
from medclass.explain.methods import DEFAULT_METHOD, ExplanationPlan, explanation_maps, plan_explanation
from medclass.explain.multilabel import check_multilabel_request, explain_label_batch
from medclass.explain.outputs import (
    FAITHFULNESS_COLUMNS,
    INDEX_COLUMNS,
    INDEX_FILE,
    output_stems,
    prepare_out_dir,
)
from medclass.explain.overlay import (
    colorbar_label,
    folder_label,
    overlay_title,
    save_localisation_grid,
    save_overlay,
)
from medclass.explain.quality import Candidate, sanity_rows
from medclass.explain.sanity import SANITY_COLUMNS, SANITY_FILE, SanityRow, merge_rows, sanity_table
from medclass.inference.inputs import CachedImages, load_images
from medclass.inference.runner import Predictor
from medclass.inference.spec import ModelSpec
from medclass.utils.errors import DataError

# Draws the per-stage activation grid of one image (``reporting.plots.plot_feature_maps``, passed in by the api:
# feature packages do not import each other).
LayerPlotter = Callable[[dict[str, torch.Tensor], Path], Any]


@dataclass
class SanityRequest:
    """The sanity check to run beside the explanations: the model trained on shuffled labels (None: model
    randomisation only) and the rows collected per batch."""

    shuffled: nn.Module | None = None
    batches: list[list[SanityRow]] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """The ``sanity.csv`` table over every batch (medians over all explained images)."""
        return pd.DataFrame(sanity_table(merge_rows(self.batches)), columns=SANITY_COLUMNS)


def write_explanation(
    out: Path,
    stem: str,
    pixels: np.ndarray,
    heat: np.ndarray,
    title: str,
    caption: str,
    method: str,
    layers: dict[str, torch.Tensor] | None = None,
    plot_layers: LayerPlotter | None = None,
) -> tuple[str, str]:
    """Write ``<stem>.npy``, ``<stem>.png`` (and ``<stem>_layers.png`` for feature maps); returns both names."""
    np.save(out / f"{stem}.npy", heat)
    save_overlay(
        pixels,
        heat,
        out / f"{stem}.png",
        title,
        signed=method in SIGNED_METHODS,
        caption=caption,
        colorbar=colorbar_label(method),
    )
    if layers is not None and plot_layers is not None:
        plot_layers(layers, out / f"{stem}_layers.png")
    return f"{stem}.png", f"{stem}.npy"


def true_class_index(path: str, classes: Sequence[str]) -> int:
    """The class index of the folder ``path`` sits in (``--target true``).

    Raises:
        DataError: the folder is not named after a class.
    """
    label = folder_label(path, classes)
    if label is None:
        raise DataError(
            f"--target true: {path} is not in a folder named after a class ({', '.join(classes)}); "
            "give the class to explain by name"
        )
    return list(classes).index(label)


def explain_batch(
    predictor: Predictor,
    images: CachedImages,
    indices: Sequence[int],
    plan: ExplanationPlan,
    out: Path,
    stems: dict[str, str],
    faithfulness: bool,
    sanity: SanityRequest | None = None,
    plot_layers: LayerPlotter | None = None,
) -> list[dict[str, Any]]:
    """Explain the readable images at ``indices``: one index row per image, files written into ``out``."""
    meta, model = predictor.meta, predictor.model
    inputs = images.tensor(indices, meta).to(predictor.device)
    probs, predicted = predictor.predict_tensor(inputs)
    targets = [plan.fixed_target if plan.fixed_target is not None else int(p) for p in predicted]
    if plan.true_class:
        targets = [true_class_index(images.paths[index], meta.classes) for index in indices]
    scored = plan.scored(model)
    maps, activations = explanation_maps(scored, inputs, targets, plan.method, plan.layer, plan.baseline)
    curves = deletion_insertion(scored, inputs, maps, targets, plan.baseline) if faithfulness else None
    if sanity is not None:
        candidate = Candidate(plan.method, plan.layer.name if plan.layer is not None else None)
        maps_of = candidate.maps_function(meta.preprocess.image_size, plan.baseline)
        sanity.batches.append(sanity_rows(model, inputs, targets, maps_of, maps, sanity.shuffled))
    rows = []
    for i, index in enumerate(indices):
        path = images.paths[index]
        pred, goal = int(predicted[i]), targets[i]
        explained = None if plan.method == "eigencam" else meta.classes[goal]  # Eigen-CAM ignores the target
        if explained is not None and plan.contrast is not None:
            explained = f"{explained} vs {meta.classes[plan.contrast]}"
        title = overlay_title(
            path, meta.classes[pred], float(probs[i, pred]), folder_label(path, meta.classes), explained
        )
        layers_i = {name: acts[i] for name, acts in activations.items()} if activations else None
        caption = f"{plan.method} @ {plan.layer_name}"
        overlay, raw = write_explanation(
            out,
            stems[path],
            images.pixels(index),
            maps[i],
            title,
            caption,
            plan.method,
            layers_i,
            plot_layers,
        )
        row = {
            "path": path,
            "overlay": overlay,
            "map": raw,
            "method": plan.method,
            "layer": plan.layer_name,
            "target": explained or "",
            "prediction": meta.classes[pred],
            "confidence": float(probs[i, pred]),
            "error": "",
        }
        if curves is not None:
            row.update(deletion_auc=curves.deletion_auc[i], insertion_auc=curves.insertion_auc[i])
        rows.append(row)
    return rows


def explain_files(
    model: nn.Module,
    meta: ModelSpec,
    files: Sequence[str],
    out: str | Path,
    method: str = DEFAULT_METHOD,
    target: str | int | None = None,
    layer: str | None = None,
    batch_size: int = 8,
    faithfulness: bool = False,
    sanity: SanityRequest | None = None,
    plot_layers: LayerPlotter | None = None,
    contrast: str | int | None = None,
) -> pd.DataFrame:
    """Explain ``files`` with ``model`` (any head: one, two or more logits) into ``out``; a multi-label model
    gets a map per label, or of the ``target`` label only (:mod:`medclass.explain.multilabel`).

    Args:
        model: the classifier; ``meta`` gives its classes, preprocessing and temperature.
        meta: the model's description (classes, preprocessing).
        files: image files.
        out: output folder (see the module docstring); refused if it holds other files.
        method: one of :data:`medclass.explain.METHODS`.
        target: class name or index to explain; None: each image's predicted class.
        layer: target layer name (default: chosen by feature-map resolution, ``explain.targets``; for
            ``feature-maps`` the one layer to show instead of every stage).
        batch_size: images per forward/backward pass.
        faithfulness: add each map's ``deletion_auc`` and ``insertion_auc`` (``explain.faithfulness``).
        sanity: also run the sanity checks on the same images and classes and write ``out/sanity.csv``.
        plot_layers: draws ``<stem>_layers.png`` for ``feature-maps`` (skipped when None).
        contrast: explain the target against this class (``z_target - z_contrast``; the ``target`` column
            then reads ``<target> vs <contrast>``).

    Returns:
        The index table (also written to ``out/explanations.csv``).

    Raises:
        ConfigError: unknown method, layer or target.
        RunDirError: ``out`` cannot be used.
    """
    files = list(dict.fromkeys(map(str, files)))  # a file given twice (directly and in its folder) once
    predictor = Predictor(model, meta)
    plan = plan_explanation(predictor.model, meta, method, target, layer, contrast)
    if meta.is_multilabel:
        check_multilabel_request(plan, faithfulness, sanity is not None)
    out = prepare_out_dir(Path(out), files)
    stems = dict(zip(files, output_stems(files), strict=True))
    images = load_images(files, meta)
    if sanity is not None and sanity.shuffled is not None:
        sanity.shuffled.to(predictor.device).eval()
    rows = [{"path": p, "method": method, "error": r} for p, r in images.failures.items()]
    for start in range(0, len(images.rows), batch_size):
        indices = range(start, min(start + batch_size, len(images.rows)))
        if meta.is_multilabel:
            rows += explain_label_batch(predictor, images, indices, plan, out, stems, write_explanation)
        else:
            rows += explain_batch(
                predictor, images, indices, plan, out, stems, faithfulness, sanity, plot_layers
            )
    order = {path: i for i, path in enumerate(files)}
    columns = [*INDEX_COLUMNS, *(FAITHFULNESS_COLUMNS if faithfulness else [])]
    table = pd.DataFrame(rows, columns=columns).fillna({"error": ""})
    table = table.sort_values("path", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
    table.to_csv(out / INDEX_FILE, index=False, float_format="%.6f", quoting=csv.QUOTE_MINIMAL)
    if sanity is not None and sanity.batches:
        sanity.table().to_csv(out / SANITY_FILE, index=False, float_format="%.4f")
    return table


def localisation_maps(
    predictor: Predictor,
    label_of: dict[str, str],
    boxes: dict[str, Box],
    plan: ExplanationPlan,
    pad: float,
) -> tuple[CachedImages, list[np.ndarray], list[Box]]:
    """The map of each boxed image for its own (true) class, and its box scaled to the input and dilated by
    ``pad`` pixels (``boxes``: resolved path -> box in the original image's pixels)."""
    meta = predictor.meta
    size = meta.preprocess.image_size
    images = load_images(list(label_of), meta)
    maps, shown_boxes = [], []
    for start in range(0, len(images.rows), 16):
        indices = range(start, min(start + 16, len(images.rows)))
        targets = [meta.classes.index(label_of[images.paths[i]]) for i in indices]
        inputs = images.tensor(indices, meta).to(predictor.device)
        maps += list(explanation_maps(predictor.model, inputs, targets, plan.method, plan.layer)[0])
        for i in indices:
            info = image_info(images.paths[i])
            box = boxes[str(Path(images.paths[i]).resolve())]
            shown_boxes.append(scaled_box(box, info.width, info.height, size, pad))
    return images, maps, shown_boxes


def localisation_result(
    images: CachedImages,
    maps: Sequence[np.ndarray],
    shown_boxes: Sequence[Box],
    plan: ExplanationPlan,
    pad: float,
    figure: str | Path | None = None,
    max_figure_images: int = 12,
) -> dict[str, Any]:
    """The pointing game of ``maps`` in ``shown_boxes`` (no further tolerance: the boxes are dilated), and the
    grid of the first ``max_figure_images`` when ``figure`` is given."""
    hits = pointing_game(maps, shown_boxes, tolerance=0.0)
    result: dict[str, Any] = {
        "n": len(maps),
        "hits": int(hits.sum()),
        "hit_rate": float(hits.mean()) if len(maps) else float("nan"),
        "margin_px": pad,
        "method": plan.method,
        "layer": plan.layer.name if plan.layer is not None else "input",
    }
    if figure is not None:
        n = min(max_figure_images, len(maps))
        title = (
            f"{plan.method}: map maximum (+) inside the box (+{pad:.1f} px margin, green) in "
            f"{result['hits']}/{len(maps)} images"
        )
        pixels = [images.pixels(i) for i in range(n)]
        result["figure"] = str(
            save_localisation_grid(
                pixels, list(maps[:n]), list(shown_boxes[:n]), list(hits[:n]), figure, title
            )
        )
    return result
