"""``medclass explain``: where the model looked, for image files and folders, and a localisation check.

Per input image, named after the file's stem (``_2``, ``_3`` ... appended when two inputs share a stem):

- ``<stem>.png``: the preprocessed image (what the model saw) beside the same image under the heat map, titled
  with the file, the predicted class and its confidence (and the true class when the folder names it);
- ``<stem>.npy``: the raw map, 2-D, at the model input's height and width;
- ``<stem>_layers.png`` (``feature-maps`` only): the activation grid of each stage;

plus ``explanations.csv`` indexing the batch (one row per input; unreadable files get an ``error`` row).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from rich.console import Console
from torch import nn

from medclass.data.readers import image_info
from medclass.explain import (
    CAM_METHODS,
    DEFAULT_METHOD,
    METHODS,
    SIGNED_METHODS,
    colorbar_label,
    deletion_insertion,
    explanation_maps,
    folder_label,
    overlay_title,
    pointing_game,
    resolve_target_layer,
    save_localisation_grid,
    save_overlay,
)
from medclass.explain.localisation import read_boxes, scaled_box
from medclass.explain.methods import ExplanationPlan, plan_explanation
from medclass.explain.outputs import (
    FAITHFULNESS_COLUMNS,
    INDEX_COLUMNS,
    INDEX_FILE,
    default_out_dir,
    output_stems,
    prepare_out_dir,
)
from medclass.inference.checkpoint import CheckpointMeta, load_for_inference
from medclass.inference.inputs import (
    CachedImages,
    collect_files,
    labelled_files,
    load_images,
    preprocess_settings,
)
from medclass.inference.runner import Predictor
from medclass.reporting.plots import plot_feature_maps
from medclass.runs import resolve_checkpoint
from medclass.utils.console import default_console
from medclass.utils.errors import ConfigError, DataError
from medclass.utils.io import write_json

# Margin of the localisation check, as a fraction of the image side (see localisation_check).
LOCALISATION_MARGIN = 0.05


def write_explanation(
    out: Path,
    stem: str,
    pixels: np.ndarray,
    heat: np.ndarray,
    title: str,
    caption: str,
    method: str,
    layers: dict[str, torch.Tensor] | None = None,
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
    if layers is not None:
        plot_feature_maps(layers, out / f"{stem}_layers.png")
    return f"{stem}.png", f"{stem}.npy"


def explain_batch(
    predictor: Predictor,
    images: CachedImages,
    indices: Sequence[int],
    plan: ExplanationPlan,
    out: Path,
    stems: dict[str, str],
    faithfulness: bool,
) -> list[dict[str, Any]]:
    """Explain the readable images at ``indices``: one index row per image, files written into ``out``."""
    meta, model = predictor.meta, predictor.model
    inputs = images.tensor(indices, meta).to(predictor.device)
    probs, predicted = predictor.predict_tensor(inputs)
    targets = [plan.fixed_target if plan.fixed_target is not None else int(p) for p in predicted]
    maps, activations = explanation_maps(model, inputs, targets, plan.method, plan.layer, plan.baseline)
    curves = deletion_insertion(model, inputs, maps, targets, plan.baseline) if faithfulness else None
    rows = []
    for i, index in enumerate(indices):
        path = images.paths[index]
        pred, goal = int(predicted[i]), targets[i]
        explained = None if plan.method == "eigencam" else meta.classes[goal]  # Eigen-CAM ignores the target
        title = overlay_title(
            path, meta.classes[pred], float(probs[i, pred]), folder_label(path, meta.classes), explained
        )
        layers_i = {name: acts[i] for name, acts in activations.items()} if activations else None
        caption = f"{plan.method} @ {plan.layer_name}"
        overlay, raw = write_explanation(
            out, stems[path], images.pixels(index), maps[i], title, caption, plan.method, layers_i
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
    meta: CheckpointMeta,
    files: Sequence[str],
    out: str | Path,
    method: str = DEFAULT_METHOD,
    target: str | int | None = None,
    layer: str | None = None,
    batch_size: int = 8,
    faithfulness: bool = False,
) -> pd.DataFrame:
    """Explain ``files`` with ``model`` (any head: one, two or more logits) into ``out``.

    Args:
        model: the classifier; ``meta`` gives its classes, preprocessing and temperature.
        meta: checkpoint metadata (``classes``, ``preprocess`` with ``mean``/``std``, ``threshold``).
        files: image files.
        out: output folder (see the module docstring); refused if it holds other files.
        method: one of :data:`medclass.explain.METHODS`.
        target: class name or index to explain; None: each image's predicted class.
        layer: target layer name (default: chosen by feature-map resolution, ``explain.targets``; for
            ``feature-maps`` the one layer to show instead of every stage).
        batch_size: images per forward/backward pass.
        faithfulness: add each map's ``deletion_auc`` and ``insertion_auc`` (``explain.faithfulness``).

    Returns:
        The index table (also written to ``out/explanations.csv``).

    Raises:
        ConfigError: unknown method, layer or target.
        RunDirError: ``out`` cannot be used.
    """
    files = list(dict.fromkeys(map(str, files)))  # a file given twice (directly and in its folder) once
    predictor = Predictor(model, meta)
    plan = plan_explanation(predictor.model, meta, method, target, layer)
    out = prepare_out_dir(Path(out), files)
    stems = dict(zip(files, output_stems(files), strict=True))
    images = load_images(files, meta)
    rows = [{"path": p, "method": method, "error": r} for p, r in images.failures.items()]
    for start in range(0, len(images.rows), batch_size):
        indices = range(start, min(start + batch_size, len(images.rows)))
        rows += explain_batch(predictor, images, indices, plan, out, stems, faithfulness)
    order = {path: i for i, path in enumerate(files)}
    columns = [*INDEX_COLUMNS, *(FAITHFULNESS_COLUMNS if faithfulness else [])]
    table = pd.DataFrame(rows, columns=columns).fillna({"error": ""})
    table = table.sort_values("path", key=lambda s: s.map(order)).reset_index(drop=True)
    table.to_csv(out / INDEX_FILE, index=False, float_format="%.6f", quoting=csv.QUOTE_MINIMAL)
    return table


def explain(
    source: str | Path,
    inputs: Sequence[str | Path],
    method: str = DEFAULT_METHOD,
    target: str | int | None = None,
    layer: str | None = None,
    out: str | Path | None = None,
    batch_size: int = 8,
    console: Console | None = None,
    faithfulness: bool = False,
) -> pd.DataFrame:
    """Explain image files and folders with a checkpoint (or a run folder's best checkpoint).

    Args:
        source: checkpoint file or run folder.
        inputs: image files and folders (searched recursively).
        method: one of :data:`medclass.explain.METHODS`.
        target: class name or index to explain (default: the predicted class).
        layer: target layer (module name); default chosen by feature-map resolution (``explain.targets``).
        out: output folder (default ``<run folder>/explanations/<method>``, see :func:`default_out_dir`).
        batch_size: images per pass.
        console: where the summary goes.
        faithfulness: add deletion and insertion AUCs per image to ``explanations.csv``.

    Returns:
        The index table (``out/explanations.csv``).
    """
    console = console or default_console()
    model, meta = load_for_inference(source)
    files = collect_files(inputs)
    out = Path(out) if out is not None else default_out_dir(source, method)
    table = explain_files(model, meta, files, out, method, target, layer, batch_size, faithfulness)
    failed = int((table["error"] != "").sum())
    done = table[table["error"] == ""]
    layer_used = done["layer"].iloc[0] if len(done) else "-"
    console.print(f"{len(done)} explanation(s) ({method} at layer {layer_used}) written to {out}")
    if faithfulness and len(done):
        console.print(
            f"faithfulness: mean deletion AUC {done['deletion_auc'].mean():.3f} (lower is better), "
            f"insertion AUC {done['insertion_auc'].mean():.3f} (higher is better), per image in {INDEX_FILE}"
        )
    if failed:
        console.print(f"[yellow]{failed} unreadable file(s)[/], listed with the reason in {out / INDEX_FILE}")
    return table


def localisation_check(
    source: str | Path,
    boxes_csv: str | Path,
    method: str = DEFAULT_METHOD,
    data: str | Path | None = None,
    split: str = "test",
    layer: str | None = None,
    margin: float = LOCALISATION_MARGIN,
    figure: str | Path | None = None,
    max_figure_images: int = 12,
    out: str | Path | None = None,
) -> dict[str, Any]:
    """How often the map's maximum falls inside the true box, for the boxed images of a split.

    The boxes (``path,x0,y0,x1,y1``, inclusive-exclusive, in the original image's pixels; e.g. the
    ``lesions.csv`` of ``medclass.data.synthetic.make_phantom_dataset``) are scaled to the model input and
    dilated by ``margin`` times the input side on every side: the CAM is computed on a coarser grid and
    upsampled, so its peak can fall up to about one grid cell off a small lesion's edge. Each boxed image is
    explained for its own (true) class.

    Args:
        source: checkpoint or run folder.
        boxes_csv: the boxes file; images of the split without a box are not checked.
        method: an explanation method (not ``feature-maps``).
        data: a labelled data set instead of the run's split.
        split: split of the run.
        layer: target layer (default: automatic).
        margin: dilation as a fraction of the input side (default 0.05: 3 px at 64 px).
        figure: write a grid of the first ``max_figure_images`` checked images here (PNG).
        max_figure_images: images in the figure.
        out: also write the result as JSON here.

    Returns:
        ``n``, ``hits``, ``hit_rate``, ``margin_px``, ``method``, ``layer``, ``checkpoint`` (and ``figure``).

    Raises:
        DataError: no boxed image in the split, or preprocessing that does not map boxes linearly.
    """
    if method == "feature-maps" or method not in METHODS:
        raise ConfigError(f"localisation needs a class-specific map; --method {method!r} is not one")
    checkpoint = resolve_checkpoint(source)
    predictor = Predictor.load(checkpoint)
    meta, settings = predictor.meta, preprocess_settings(predictor.meta)
    if settings.resize != "stretch" or settings.crop_foreground:
        raise DataError(
            "localisation check: boxes map to the model input only with resize: stretch and no foreground crop"
        )
    boxes = read_boxes(Path(boxes_csv))
    paths, labels = labelled_files(source, meta, data, split)
    label_of = {p: label for p, label in zip(paths, labels, strict=True) if str(Path(p).resolve()) in boxes}
    if not label_of:
        raise DataError(f"{boxes_csv}: none of the {len(paths)} images of the {split} split has a box")
    size, pad = settings.image_size, margin * settings.image_size
    target_layer = None if method not in CAM_METHODS else resolve_target_layer(predictor.model, layer, size)
    images = load_images(list(label_of), meta)
    maps, shown_boxes = [], []
    for start in range(0, len(images.rows), 16):
        indices = range(start, min(start + 16, len(images.rows)))
        targets = [meta.classes.index(label_of[images.paths[i]]) for i in indices]
        inputs = images.tensor(indices, meta).to(predictor.device)
        maps += list(explanation_maps(predictor.model, inputs, targets, method, target_layer)[0])
        for i in indices:
            info = image_info(images.paths[i])
            box = boxes[str(Path(images.paths[i]).resolve())]
            shown_boxes.append(scaled_box(box, info.width, info.height, size, pad))
    hits = pointing_game(maps, shown_boxes, tolerance=0.0)
    result: dict[str, Any] = {
        "n": len(maps),
        "hits": int(hits.sum()),
        "hit_rate": float(hits.mean()) if len(maps) else float("nan"),
        "margin_px": pad,
        "method": method,
        "layer": target_layer.name if target_layer is not None else "input",
        "checkpoint": str(checkpoint),
    }
    if figure is not None:
        n = min(max_figure_images, len(maps))
        title = (
            f"{method}: map maximum (+) inside the box (+{pad:.1f} px margin, green) in "
            f"{result['hits']}/{len(maps)} images"
        )
        pixels = [images.pixels(i) for i in range(n)]
        result["figure"] = str(
            save_localisation_grid(pixels, maps[:n], shown_boxes[:n], list(hits[:n]), figure, title)
        )
    if out is not None:
        write_json(out, result)
    return result
