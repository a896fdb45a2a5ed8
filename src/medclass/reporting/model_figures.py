"""Run figures that need the trained model or the training transform, drawn from the run's saved files and best
checkpoint (loaded through :mod:`medclass.inference`).

* ``plots/augmented_samples.png``: training images through the training augmentation, denormalised: what the
  model actually sees;
* ``plots/feature_maps.png``: activations of the best model's stages (``explain.targets.stage_layers``, e.g.
  ResNet layer1-4, every block of a custom CNN) for one test image, captured with forward hooks;
* ``plots/error_cams.png``: the most confident test errors, each beside the class activation map of the class it was
  taken for and of its true class (explain's default method at its default layer): where the model looked when it
  was wrong, and what it missed;
* ``model_profile.json``: parameters and multiply-adds of the model at its input size;
* ``plots/model_artifacts.json``: which images the figures show (and why one was not drawn).

Everything is rebuilt from the run folder (config, splits, best checkpoint), so ``medclass report`` can add
what an older run lacks, and ``train`` calls the same code at its end. The maps of the feature-map grid and of the
error panel come from :mod:`medclass.explain`, which this package may not import (feature packages never import
each other): the caller passes them as :class:`ModelMaps` (``medclass.api.model_figures`` does).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from rich.console import Console
from rich.markup import escape
from torch import nn

from medclass.config import build_config, read_yaml
from medclass.data.preprocess import load_preprocessed
from medclass.data.readers import UnreadableImage
from medclass.data.splits import read_splits
from medclass.inference.checkpoint import load_for_inference
from medclass.inference.inputs import eval_transform, load_images
from medclass.inference.spec import ModelSpec
from medclass.models.profile import MAC_CONVENTION, count_macs, count_parameters
from medclass.reporting import plots
from medclass.reporting.build import AUGMENTED_FIGURE, FEATURE_MAPS_FIGURE
from medclass.reporting.figures import ERROR_CAMS_FIGURE
from medclass.runs import (
    ARTIFACTS_INFO_FILE,
    CONFIG_FILE,
    MODEL_PROFILE_FILE,
    PLOTS_DIR,
    SPLITS_FILE,
    TEST_PREDICTIONS_FILE,
    training_view,
)
from medclass.transforms.pipelines import TrainTransform, describe_augment
from medclass.transforms.tensor import to_chw_tensor
from medclass.utils.console import default_console
from medclass.utils.errors import MedclassError
from medclass.utils.io import read_json, write_json

AUGMENTED_FILE = f"{AUGMENTED_FIGURE}.png"
FEATURE_MAPS_FILE = f"{FEATURE_MAPS_FIGURE}.png"
ERROR_CAMS_FILE = f"{ERROR_CAMS_FIGURE}.png"
# Test errors in the class-activation panel.
N_ERROR_CAMS = 6


@dataclass(frozen=True)
class ModelMaps:
    """What the model figures take from :mod:`medclass.explain` (passed in: features never import each other).

    Attributes:
        activations: ``activations(model, inputs)``: the feature maps of the model's stages for a ``1 x C x H x
            W`` input, name -> activations (``explain.feature_maps.capture_activations``).
        class_maps: ``class_maps(model, meta, inputs, targets)``: the maps of explain's default method for
            the ``targets`` class of each input, with ``.maps`` ``(N, H, W)``, ``.method`` and ``.layer_name``
            (``explain.model_maps.default_class_maps``).
        overlay_pairs: ``overlay_pairs(pixels, maps, titles, path, title, pairs_per_row=2)``: each image beside
            its map over it, as a PNG (``explain.overlay.save_overlay_pairs``).
    """

    activations: Callable[[nn.Module, torch.Tensor], dict[str, Any]]
    class_maps: Callable[[nn.Module, ModelSpec, torch.Tensor, list[int]], Any]
    overlay_pairs: Callable[..., Path]


def pick_per_class(table: pd.DataFrame, n: int) -> pd.DataFrame:
    """Up to ``n`` rows taking classes in turn (in file order within a class), so every class is shown."""
    groups = [rows for _, rows in table.groupby("label", sort=True)]
    picked = []
    for i in range(max((len(g) for g in groups), default=0)):
        for rows in groups:
            if i < len(rows):
                picked.append(rows.iloc[i])
            if len(picked) == n:
                return pd.DataFrame(picked)
    return pd.DataFrame(picked, columns=table.columns)


def denormalize(image: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """A normalised ``C x H x W`` tensor back to an ``H x W x C`` array in [0, 1] for display."""
    mean_t = torch.as_tensor(mean, dtype=image.dtype)[:, None, None]
    std_t = torch.as_tensor(std, dtype=image.dtype)[:, None, None]
    return (image * std_t + mean_t).clamp(0, 1).permute(1, 2, 0).numpy()


def augmented_views(
    paths: Sequence[str], meta: ModelSpec, preset: TrainTransform, seed: int, originals: bool = False
) -> list[np.ndarray]:
    """Each file preprocessed as in training, then through ``preset`` (seeded), denormalised; with
    ``originals`` each view follows the same image through the evaluation transform (no augmentation)."""
    settings = meta.preprocess.settings
    mean, std = meta.preprocess.mean, meta.preprocess.std
    plain = eval_transform(meta)
    views = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for path in paths:
            pixels = to_chw_tensor(load_preprocessed(path, settings))
            if originals:
                views.append(denormalize(plain(pixels), mean, std))
            views.append(denormalize(preset(pixels), mean, std))
    return views


def model_profile(model: nn.Module, meta: ModelSpec) -> dict[str, Any]:
    """Parameters and multiply-adds per image of a checkpoint's model at its input size."""
    size, chans = meta.preprocess.image_size, meta.preprocess.channels
    return {
        "model": meta.model.get("name"),
        "params": count_parameters(model),
        "macs": count_macs(model, size, chans),
        "image_size": size,
        "in_chans": chans,
        "convention": MAC_CONVENTION,
    }


def run_splits(run_dir: Path, meta: ModelSpec) -> pd.DataFrame:
    """The run's splits table as training saw it (k-fold folds resolved to train/val)."""
    table = read_splits(run_dir / SPLITS_FILE, meta.classes)
    return training_view(table, meta.config.get("split", {}).get("fold", 0))


def _readable(rows: pd.DataFrame, n: int, settings: Any) -> pd.DataFrame:
    """The first ``n`` rows whose file can still be read (a moved data folder must not stop the report)."""
    keep = []
    for index, row in rows.iterrows():
        try:
            load_preprocessed(row["path"], settings)
        except (UnreadableImage, OSError):
            continue
        keep.append(index)
        if len(keep) == n:
            break
    return rows.loc[keep]


def draw_augmented(
    run_dir: Path, meta: ModelSpec, table: pd.DataFrame, n: int, path: Path, console: Console
) -> tuple[Path, dict[str, Any]] | None:
    """The augmentation figure (each original beside its augmented version) and its record, or None when no
    training image is readable."""
    settings = meta.preprocess.settings
    rows = _readable(pick_per_class(table[table["split"] == "train"], 3 * n), n, settings)
    if not len(rows):
        console.print("[yellow]augmented samples skipped: no training image is readable[/]")
        return None
    config = build_config(read_yaml(run_dir / CONFIG_FILE), source=str(run_dir / CONFIG_FILE))
    preset = TrainTransform(config.augment, settings.image_size, meta.preprocess.mean, meta.preprocess.std)
    # Each original (left) beside its augmented version (right), three pairs to a row.
    views = augmented_views(list(rows["path"]), meta, preset, config.seed, originals=True)
    titles = [
        title
        for file, label in zip(rows["path"], rows["label"], strict=True)
        for title in (f"{Path(file).name}\n{label}: original", "augmented")
    ]
    described = describe_augment(config.augment)
    title = f"Training augmentation, {described}\noriginals beside what the model sees"
    figure = plots.plot_image_grid(views, titles, path, ncols=6, title=title)
    return figure, {
        "images": list(rows["path"]),
        "augment": config.augment.preset,
        "augmentations": described,
    }


def draw_error_cams(
    run_dir: Path, model: nn.Module, meta: ModelSpec, n: int, path: Path, explain: ModelMaps
) -> tuple[Path | None, dict[str, Any]]:
    """The ``n`` most confident test errors (predictions_test.csv), one row each: the image beside the map of
    explain's default method (at the layer chosen by resolution) for the class it was taken for, and beside the
    map of its true class (what the model missed); the figure (None when there is nothing to show) and its
    record (the images, method and layer, or the reason)."""
    file = run_dir / TEST_PREDICTIONS_FILE
    if not file.is_file():
        return None, {"images": [], "reason": f"no {TEST_PREDICTIONS_FILE}"}
    table = pd.read_csv(file, keep_default_na=False)
    wrong = table[table["label"].astype(str) != table["prediction"].astype(str)]
    wrong = wrong.sort_values("confidence", ascending=False, kind="stable").head(n)
    if not len(wrong):
        return None, {"images": [], "reason": "no test errors"}
    images = load_images(list(wrong["path"]), meta)
    rows = wrong[~wrong["path"].isin(list(images.failures))]
    if not len(rows):
        return None, {"images": [], "reason": "the test images of the errors cannot be read"}
    predicted = [meta.classes.index(str(c)) for c in rows["prediction"]]
    inputs = images.tensor(range(len(images.rows)), meta)
    plan = explain.class_maps(model, meta, inputs, predicted)
    true_maps = explain.class_maps(model, meta, inputs, [meta.classes.index(str(t)) for t in rows["label"]])
    pixels, maps, titles = [], [], []
    cases = zip(rows["path"], rows["label"], rows["prediction"], rows["confidence"], strict=True)
    for i, (file, true, taken, confidence) in enumerate(cases):
        pixels += [images.pixels(i)] * 2
        maps += [plan.maps[i], true_maps.maps[i]]
        titles += [
            f"{Path(file).name}\npredicted {taken} ({float(confidence):.0%}): its map",
            f"true {true}: its map",
        ]
    title = (
        f"The {len(rows)} most confident test errors: {plan.method} at {plan.layer_name} of the predicted class "
        "(left) and of the true class (right)"
    )
    figure = explain.overlay_pairs(pixels, maps, titles, path, title, pairs_per_row=2)
    record = {"images": list(rows["path"]), "method": plan.method, "layer": plan.layer_name}
    return figure, record


def error_cams_step(
    run_dir: Path,
    model: nn.Module,
    meta: ModelSpec,
    info: dict[str, Any],
    only_missing: bool,
    console: Console,
    explain: ModelMaps,
) -> Path | None:
    """Draw the class-activation panel of the errors (unless ``only_missing`` and it was drawn or skipped before) and record
    it in ``info``; a model the CAM cannot explain is a note, not a failure of the report."""
    path = run_dir / PLOTS_DIR / ERROR_CAMS_FILE
    if only_missing and (path.is_file() or ERROR_CAMS_FIGURE in info):
        return path if path.is_file() else None
    try:
        drawn, info[ERROR_CAMS_FIGURE] = draw_error_cams(run_dir, model, meta, N_ERROR_CAMS, path, explain)
    except (MedclassError, ValueError) as exc:
        console.print(f"[yellow]Class activation maps of the test errors skipped: {escape(str(exc))}[/]")
        info[ERROR_CAMS_FIGURE] = {"images": [], "reason": str(exc)}
        return None
    return drawn


def write_model_figures(
    run_dir: str | Path,
    explain: ModelMaps,
    checkpoint: str | Path | None = None,
    n_augmented: int = 12,
    only_missing: bool = False,
    console: Console | None = None,
) -> dict[str, Path]:
    """Write the augmented-sample grid, the feature-map grid, the class-activation panel of the test errors and the
    model profile of a run.

    Args:
        run_dir: the run folder (config.yaml, splits.csv, checkpoints/best.ckpt).
        explain: the maps of the feature-map grid and of the error panel.
        checkpoint: the model to use (default: the run's best checkpoint).
        n_augmented: training images in the augmentation grid.
        only_missing: keep artifacts that already exist (``medclass report`` on a finished run).
        console: where notes go (e.g. a figure skipped because the images moved).

    Returns:
        Name -> path of the files written or kept.

    Raises:
        RunDirError, WeightsError: no usable checkpoint.
    """
    console = console or default_console()
    run_dir = Path(run_dir)
    plots_dir = run_dir / PLOTS_DIR
    model, meta = load_for_inference(checkpoint or run_dir)
    table = run_splits(run_dir, meta)
    settings = meta.preprocess.settings
    info_path = plots_dir / ARTIFACTS_INFO_FILE
    info: dict[str, Any] = read_json(info_path) if info_path.is_file() else {}
    written: dict[str, Path] = {}

    profile_path = run_dir / MODEL_PROFILE_FILE
    if not (only_missing and profile_path.is_file()):
        write_json(profile_path, model_profile(model, meta))
    written["model_profile"] = profile_path

    augmented = plots_dir / AUGMENTED_FILE
    if only_missing and augmented.is_file():
        written["augmented_samples"] = augmented
    else:
        drawn = draw_augmented(run_dir, meta, table, n_augmented, augmented, console)
        if drawn is not None:
            written["augmented_samples"], info["augmented_samples"] = drawn

    feature_maps = plots_dir / FEATURE_MAPS_FILE
    if only_missing and feature_maps.is_file():
        written["feature_maps"] = feature_maps
    else:
        source = table[table["split"] == "test"]
        rows = _readable(source if len(source) else table, 1, settings)
        if len(rows):
            path, label = rows["path"].iloc[0], rows["label"].iloc[0]
            pixels = to_chw_tensor(load_preprocessed(path, settings))
            try:
                maps = explain.activations(model, eval_transform(meta)(pixels).unsqueeze(0))
            except ValueError as exc:  # no conv layer or known stage (explain.targets.stage_layers)
                console.print(f"[yellow]feature maps skipped: {escape(str(exc))}[/]")
            else:
                written["feature_maps"] = plots.plot_feature_maps(maps, feature_maps, max_channels=12)
                info["feature_maps"] = {"image": path, "label": label, "layers": list(maps)}
    drawn = error_cams_step(run_dir, model, meta, info, only_missing, console, explain)
    if drawn is not None:
        written[ERROR_CAMS_FIGURE] = drawn
    if info:
        write_json(info_path, info)
        written["info"] = info_path
    return written
