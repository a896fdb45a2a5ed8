"""``medclass explain``: where the model looked, for image files and folders, and a localisation check.

Per input image, named after the file's stem (``_2``, ``_3`` ... appended when two inputs share a stem):

- ``<stem>.png``: the preprocessed image (what the model saw) beside the same image under the heat map, titled
  with the predicted class and its confidence (and the explained class when ``target`` differs);
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

from medclass.data.preprocess import PreprocessSettings
from medclass.data.readers import image_info
from medclass.explain import (
    ATTRIBUTION_METHODS,
    CAM_METHODS,
    METHODS,
    TargetLayer,
    capture_activations,
    compute_attribution,
    compute_cam,
    mean_activation_map,
    num_targets,
    resolve_target_layer,
    save_localisation_grid,
    save_overlay,
    stage_layers,
)
from medclass.inference.checkpoint import CheckpointMeta, load_for_inference
from medclass.inference.inputs import (
    collect_files,
    eval_transform,
    labelled_files,
    load_images,
    preprocess_settings,
)
from medclass.inference.runner import Predictor
from medclass.reporting.plots import plot_feature_maps
from medclass.runs import prepare_output_dir, resolve_checkpoint
from medclass.transforms.tensor import to_chw_tensor
from medclass.utils.console import default_console
from medclass.utils.errors import ConfigError, DataError, RunDirError
from medclass.utils.io import write_json

INDEX_FILE = "explanations.csv"
INDEX_COLUMNS = [
    "path",
    "overlay",
    "map",
    "method",
    "layer",
    "target",
    "prediction",
    "confidence",
    "error",
]
# Margin of the localisation check, as a fraction of the image side (see localisation_check).
LOCALISATION_MARGIN = 0.05


def target_index(target: str | int | None, classes: Sequence[str]) -> int | None:
    """The class index of ``target``: a class name or an index (None: explain each image's predicted class).

    Raises:
        ConfigError: neither a class name nor a valid index; the message lists the classes.
    """
    if target is None:
        return None
    text = str(target)
    if text in classes:
        return list(classes).index(text)
    if text.lstrip("-").isdigit() and 0 <= int(text) < len(classes):
        return int(text)
    listing = ", ".join(f"{i}={name}" for i, name in enumerate(classes))
    raise ConfigError(f"--target {text!r}: not a class of the model; expected a name or index of {listing}")


def output_stems(files: Sequence[str]) -> list[str]:
    """One output name per input: the file's stem (``.nii.gz`` counted whole), ``_2``, ``_3`` ... on repeats."""
    seen: dict[str, int] = {}
    stems = []
    for file in files:
        name = Path(file).name
        stem = name[: -len(".nii.gz")] if name.lower().endswith(".nii.gz") else Path(name).stem
        count = seen.get(stem.lower(), 0) + 1
        seen[stem.lower()] = count
        stems.append(stem if count == 1 else f"{stem}_{count}")
    return stems


def prepare_out_dir(out: Path, files: Sequence[str]) -> Path:
    """Claim ``out`` for explanations (see :func:`medclass.runs.prepare_output_dir`): a new or empty folder,
    or one this command wrote before; never a folder that holds any of the input images.

    Raises:
        RunDirError: ``out`` is a file, a folder of something else, or holds an input image.
    """
    out = Path(out)
    resolved = out.resolve()
    inside = [f for f in files if Path(f).resolve().parent == resolved]
    if inside:
        raise RunDirError(f"--out {out}: holds input image {inside[0]}; choose another folder")
    return prepare_output_dir(out, "explanations", reuse=True, legacy=(INDEX_FILE,)).path


def explanation_maps(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: Sequence[int],
    method: str,
    layer: TargetLayer | None,
    baseline: torch.Tensor | None = None,
) -> tuple[np.ndarray, dict[str, torch.Tensor] | None]:
    """``(N, H, W)`` maps of ``method`` for a batch, and for ``feature-maps`` the per-stage activations.

    ``feature-maps``' map is the channel mean of the deepest captured layer, resized to the input.
    """
    if method in CAM_METHODS:
        return compute_cam(model, inputs, targets, method, layer), None
    if method in ATTRIBUTION_METHODS:
        return compute_attribution(model, inputs, targets, method, baseline=baseline), None
    if method == "feature-maps":
        layers = [layer] if layer is not None else stage_layers(model)
        activations = capture_activations(model, inputs, layers)
        deepest = next(reversed(activations.values()))
        return mean_activation_map(deepest, tuple(inputs.shape[-2:])).numpy(), activations
    raise ConfigError(f"--method {method!r}: expected one of {', '.join(METHODS)}")


def _check_head(model: nn.Module, meta: CheckpointMeta, settings: PreprocessSettings) -> int:
    """The model's logit count, checked against the class names."""
    probe = torch.zeros(1, settings.channels, settings.image_size, settings.image_size)
    with torch.no_grad():
        outputs = model.eval()(probe.to(next(model.parameters()).device)).shape[1]
    if num_targets(outputs) != len(meta.classes):
        raise ConfigError(
            f"the model has {outputs} output(s) but {len(meta.classes)} class names {meta.classes}; "
            "a one-logit model needs two names (negative, positive)"
        )
    return outputs


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
        pixels, heat, out / f"{stem}.png", title, signed=method == "integrated-gradients", caption=caption
    )
    if layers is not None:
        plot_feature_maps(layers, out / f"{stem}_layers.png")
    return f"{stem}.png", f"{stem}.npy"


def explain_files(
    model: nn.Module,
    meta: CheckpointMeta,
    files: Sequence[str],
    out: str | Path,
    method: str = "gradcam",
    target: str | int | None = None,
    layer: str | None = None,
    batch_size: int = 8,
) -> pd.DataFrame:
    """Explain ``files`` with ``model`` (any head: one, two or more logits) into ``out``.

    Args:
        model: the classifier; ``meta`` gives its classes, preprocessing and temperature.
        meta: checkpoint metadata (``classes``, ``preprocess`` with ``mean``/``std``, ``threshold``).
        files: image files.
        out: output folder (see the module docstring); refused if it holds other files.
        method: one of :data:`medclass.explain.METHODS`.
        target: class name or index to explain; None: each image's predicted class.
        layer: target layer name (default: ``explain.targets.default_target_layer``; for ``feature-maps``
            the one layer to show instead of every stage).
        batch_size: images per forward/backward pass.

    Returns:
        The index table (also written to ``out/explanations.csv``).

    Raises:
        ConfigError: unknown method, layer or target.
        RunDirError: ``out`` cannot be used.
    """
    if method not in METHODS:
        raise ConfigError(f"--method {method!r}: expected one of {', '.join(METHODS)}")
    files = list(dict.fromkeys(map(str, files)))  # a file given twice (directly and in its folder) once
    settings = preprocess_settings(meta)
    transform = eval_transform(meta)
    predictor = Predictor(model, meta)
    device = predictor.device
    _check_head(model, meta, settings)
    fixed_target = target_index(target, meta.classes)
    if layer and method in ATTRIBUTION_METHODS:
        raise ConfigError(
            f"--layer: {method} attributes to the input pixels; --layer applies to CAMs and feature-maps"
        )
    try:
        target_layer = resolve_target_layer(model, layer) if (layer or method in CAM_METHODS) else None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    # Integrated gradients start from a black image, normalised like the inputs.
    black = np.zeros((settings.image_size, settings.image_size, settings.channels), np.uint8)
    baseline = transform(to_chw_tensor(black))
    out = prepare_out_dir(Path(out), files)
    stems = dict(zip(files, output_stems(files), strict=True))
    if target_layer is not None:
        layer_name = target_layer.name
    else:
        layer_name = "input" if method in ATTRIBUTION_METHODS else "stages"
    images = load_images(files, meta)
    rows: list[dict[str, Any]] = [
        {"path": p, "method": method, "error": r} for p, r in images.failures.items()
    ]
    for start in range(0, len(images.rows), batch_size):
        indices = range(start, min(start + batch_size, len(images.rows)))
        inputs = images.tensor(indices, meta).to(device)
        probs, predicted = predictor.predict_tensor(inputs)
        targets = [fixed_target if fixed_target is not None else int(p) for p in predicted]
        maps, activations = explanation_maps(model, inputs, targets, method, target_layer, baseline)
        for i, index in enumerate(indices):
            path = images.paths[index]
            pred, goal = int(predicted[i]), targets[i]
            explained = None if method == "eigencam" else meta.classes[goal]  # Eigen-CAM ignores the target
            title = f"predicted {meta.classes[pred]} ({probs[i, pred]:.1%})"
            if explained is not None and goal != pred:
                title += f", explaining {explained}"
            layers_i = {name: acts[i] for name, acts in activations.items()} if activations else None
            overlay, raw = write_explanation(
                out,
                stems[path],
                images.pixels(index),
                maps[i],
                title,
                f"{method} @ {layer_name}",
                method,
                layers_i,
            )
            rows.append(
                {
                    "path": path,
                    "overlay": overlay,
                    "map": raw,
                    "method": method,
                    "layer": layer_name,
                    "target": explained or "",
                    "prediction": meta.classes[pred],
                    "confidence": float(probs[i, pred]),
                    "error": "",
                }
            )
    order = {path: i for i, path in enumerate(files)}
    table = pd.DataFrame(rows, columns=INDEX_COLUMNS).fillna({"error": ""})
    table = table.sort_values("path", key=lambda s: s.map(order)).reset_index(drop=True)
    table.to_csv(out / INDEX_FILE, index=False, float_format="%.6f", quoting=csv.QUOTE_MINIMAL)
    return table


def explain(
    source: str | Path,
    inputs: Sequence[str | Path],
    method: str = "gradcam",
    target: str | int | None = None,
    layer: str | None = None,
    out: str | Path | None = None,
    batch_size: int = 8,
    console: Console | None = None,
) -> pd.DataFrame:
    """Explain image files and folders with a checkpoint (or a run folder's best checkpoint).

    Args:
        source: checkpoint file or run folder.
        inputs: image files and folders (searched recursively).
        method: ``gradcam``, ``gradcam++``, ``scorecam``, ``eigencam``, ``saliency``,
            ``integrated-gradients`` or ``feature-maps``.
        target: class name or index to explain (default: the predicted class).
        layer: target layer (module name); default chosen per model family.
        out: output folder (default ``explanations/<method>``).
        batch_size: images per pass.
        console: where the summary goes.

    Returns:
        The index table (``out/explanations.csv``).
    """
    console = console or default_console()
    model, meta = load_for_inference(source)
    files = collect_files(inputs)
    out = Path(out) if out is not None else Path("explanations") / method
    table = explain_files(model, meta, files, out, method, target, layer, batch_size)
    failed = int((table["error"] != "").sum())
    done = table[table["error"] == ""]
    layer_used = done["layer"].iloc[0] if len(done) else "-"
    console.print(f"{len(done)} explanation(s) ({method} at layer {layer_used}) written to {out}")
    if failed:
        console.print(f"[yellow]{failed} unreadable file(s)[/], listed with the reason in {out / INDEX_FILE}")
    return table


def _read_boxes(boxes_csv: Path) -> dict[str, tuple[float, float, float, float]]:
    """``path -> (x0, y0, x1, y1)`` from a CSV with those columns; relative paths are relative to the CSV."""
    try:
        table = pd.read_csv(boxes_csv)
    except (OSError, pd.errors.ParserError) as exc:
        raise DataError(f"{boxes_csv}: cannot read the boxes CSV ({exc})") from None
    missing = [c for c in ("path", "x0", "y0", "x1", "y1") if c not in table.columns]
    if missing:
        raise DataError(f"{boxes_csv}: missing column(s) {missing}; expected path,x0,y0,x1,y1")
    boxes = {}
    for row in table.itertuples(index=False):
        path = Path(row.path)
        path = path if path.is_absolute() else boxes_csv.parent / path
        boxes[str(path.resolve())] = (float(row.x0), float(row.y0), float(row.x1), float(row.y1))
    return boxes


def peak_in_box(heat: np.ndarray, box: tuple[float, float, float, float]) -> bool:
    """Whether the centre of ``heat``'s maximum pixel lies in ``box`` = ``(x0, y0, x1, y1)`` (map pixels)."""
    y, x = np.unravel_index(int(np.argmax(heat)), heat.shape)
    x0, y0, x1, y1 = box
    return bool(x0 <= x + 0.5 <= x1 and y0 <= y + 0.5 <= y1)


def localisation_check(
    source: str | Path,
    boxes_csv: str | Path,
    method: str = "gradcam",
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
    dilated by ``margin`` times the input side on every side: the CAM is computed on a coarser grid (a quarter
    of the input side for the custom CNN) and upsampled, so its peak can fall up to about one grid cell off
    a small lesion's edge. Each boxed image is explained for its own (true) class.

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
    model, meta = load_for_inference(checkpoint)
    settings = preprocess_settings(meta)
    if settings.resize != "stretch" or settings.crop_foreground:
        raise DataError(
            "localisation check: boxes map to the model input only with resize: stretch and no foreground crop"
        )
    boxes = _read_boxes(Path(boxes_csv))
    paths, labels = labelled_files(source, meta, data, split)
    chosen = [(p, label) for p, label in zip(paths, labels, strict=True) if str(Path(p).resolve()) in boxes]
    if not chosen:
        raise DataError(f"{boxes_csv}: none of the {len(paths)} images of the {split} split has a box")
    predictor = Predictor(model, meta)
    target_layer = None if method not in CAM_METHODS else resolve_target_layer(model, layer)
    size = settings.image_size
    pad = margin * size
    label_of = dict(chosen)
    images = load_images([p for p, _ in chosen], meta)
    records = []
    for start in range(0, len(images.rows), 16):
        indices = range(start, min(start + 16, len(images.rows)))
        targets = [meta.classes.index(label_of[images.paths[i]]) for i in indices]
        inputs = images.tensor(indices, meta).to(predictor.device)
        maps, _ = explanation_maps(model, inputs, targets, method, target_layer)
        for index, heat in zip(indices, maps, strict=True):
            path = images.paths[index]
            info = image_info(path)
            sx, sy = size / info.width, size / info.height
            x0, y0, x1, y1 = boxes[str(Path(path).resolve())]
            box = (x0 * sx - pad, y0 * sy - pad, x1 * sx + pad, y1 * sy + pad)
            records.append((path, images.pixels(index), heat, box, peak_in_box(heat, box)))
    hits = sum(r[4] for r in records)
    result: dict[str, Any] = {
        "n": len(records),
        "hits": int(hits),
        "hit_rate": hits / len(records) if records else float("nan"),
        "margin_px": pad,
        "method": method,
        "layer": target_layer.name if target_layer is not None else "input",
        "checkpoint": str(checkpoint),
    }
    if figure is not None:
        shown = records[:max_figure_images]
        result["figure"] = str(
            save_localisation_grid(
                [r[1] for r in shown],
                [r[2] for r in shown],
                [r[3] for r in shown],
                [r[4] for r in shown],
                figure,
                f"{method}: map maximum (+) inside the box (+{pad:.1f} px margin, green) in "
                f"{hits}/{len(records)} images",
            )
        )
    if out is not None:
        write_json(out, result)
    return result
