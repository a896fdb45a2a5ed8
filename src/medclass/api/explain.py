"""``medclass explain``: where the model looked, for image files and folders, its sanity check, and a
localisation check. Orchestration only: the maps, files and measures are ``medclass.explain.files``' (see there
for what is written per image).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from medclass.explain.files import SanityRequest, localisation_maps, localisation_result
from medclass.explain.files import explain_files as _explain_files
from medclass.explain.localisation import read_boxes
from medclass.explain.methods import METHODS, default_method, plan_explanation
from medclass.explain.outputs import INDEX_FILE, default_out_dir
from medclass.explain.sanity import SANITY_FILE, SPEARMAN_LIMIT
from medclass.inference.checkpoint import load_for_inference
from medclass.inference.inputs import collect_files, labelled_files
from medclass.inference.runner import Predictor
from medclass.reporting.plots import plot_feature_maps
from medclass.runs import resolve_checkpoint
from medclass.utils.console import default_console
from medclass.utils.errors import ConfigError, DataError
from medclass.utils.io import write_json

# Margin of the localisation check, as a fraction of the image side (see localisation_check).
LOCALISATION_MARGIN = 0.05


def explain_files(
    model: Any,
    meta: Any,
    files: Sequence[str],
    out: str | Path,
    method: str | None = None,
    target: str | int | None = None,
    layer: str | None = None,
    batch_size: int = 8,
    faithfulness: bool = False,
    sanity: SanityRequest | None = None,
    contrast: str | int | None = None,
) -> Any:
    """Explain ``files`` with a loaded ``model`` and its ``meta`` (a ``ModelSpec``) into ``out``: see
    :func:`medclass.explain.files.explain_files` (``method`` None: the model family's default,
    :func:`medclass.explain.methods.default_method`). Returns the index table (a DataFrame)."""
    method = method or default_method(model)
    return _explain_files(
        model,
        meta,
        files,
        out,
        method,
        target,
        layer,
        batch_size,
        faithfulness,
        sanity,
        plot_feature_maps,
        contrast,
    )


def shuffled_labels_model(path: str | Path, meta: Any) -> Any:
    """The model of ``path`` (a run folder or checkpoint trained on shuffled labels) for the data-randomisation
    check; it must have the explained model's architecture and classes.

    Raises:
        ConfigError: another architecture or other classes.
    """
    model, other = load_for_inference(path)
    if other.model != meta.model or list(other.classes) != list(meta.classes):
        raise ConfigError(
            f"--shuffled-model {path}: expected a {meta.model.get('name')} with classes {list(meta.classes)} "
            f"(trained on the same images with shuffled labels), got a {other.model.get('name')} with classes "
            f"{list(other.classes)}"
        )
    return model


def explain(
    source: str | Path,
    inputs: Sequence[str | Path],
    method: str | None = None,
    target: str | int | None = None,
    layer: str | None = None,
    out: str | Path | None = None,
    batch_size: int = 8,
    console: Console | None = None,
    faithfulness: bool = False,
    sanity: bool = False,
    shuffled_model: str | Path | None = None,
    contrast: str | int | None = None,
) -> Any:
    """Explain image files and folders with a checkpoint (or a run folder's best checkpoint).

    Args:
        source: checkpoint file or run folder.
        inputs: image files and folders (searched recursively).
        method: one of :data:`medclass.explain.METHODS` (default: the model family's,
            :func:`medclass.explain.methods.default_method`).
        target: class name or index to explain (default: the predicted class).
        layer: target layer (module name); default chosen by feature-map resolution (``explain.targets``).
        out: output folder (default ``<run folder>/explanations/<method>``, see :func:`default_out_dir`).
        batch_size: images per pass.
        console: where the summary goes.
        faithfulness: add deletion and insertion AUCs per image to ``explanations.csv``.
        sanity: run the sanity checks of Adebayo et al. 2018 on the same images and classes and write
            ``out/sanity.csv`` (``medclass.explain.sanity``).
        shuffled_model: with ``sanity``, a run or checkpoint of the same model trained on shuffled labels (the
            data-randomisation check).
        contrast: explain the target class against this class (a contrastive map of ``z_target - z_contrast``:
            what makes the image the target rather than the contrast class).

    Returns:
        The index table (``out/explanations.csv``), a DataFrame.
    """
    console = console or default_console()
    if shuffled_model is not None and not sanity:
        raise ConfigError("--shuffled-model: applies to the sanity check; add --sanity")
    model, meta = load_for_inference(source)
    method = method or default_method(model)
    request = SanityRequest(shuffled_labels_model(shuffled_model, meta) if shuffled_model else None)
    files = collect_files(inputs)
    out = Path(out) if out is not None else default_out_dir(source, method)
    checks = request if sanity else None
    table = explain_files(
        model, meta, files, out, method, target, layer, batch_size, faithfulness, checks, contrast
    )
    failed = int((table["error"] != "").sum())
    done = table[table["error"] == ""]
    layer_used = done["layer"].iloc[0] if len(done) else "-"
    console.print(f"{len(done)} explanation(s) ({method} at layer {layer_used}) written to {out}")
    if faithfulness and len(done):
        console.print(
            f"faithfulness: mean deletion AUC {done['deletion_auc'].mean():.3f} (lower is better), "
            f"insertion AUC {done['insertion_auc'].mean():.3f} (higher is better), per image in {INDEX_FILE}"
        )
    if sanity and request.batches:
        for row in request.table().to_dict("records"):
            if row["check"] in ("full", "data"):
                what = "model randomisation, full" if row["check"] == "full" else "data randomisation"
                verdict = (
                    "passes" if row["passes"] else "FAILS: the map barely depends on what the model learnt"
                )
                console.print(
                    f"sanity ({what}): median Spearman {row['median_spearman']:.2f}, SSIM "
                    f"{row['median_ssim']:.2f} over {row['n']} map(s): {verdict} (<= {SPEARMAN_LIMIT})"
                )
        console.print(f"sanity table (cascading randomisation too) in {out / SANITY_FILE}")
    if failed:
        console.print(f"[yellow]{failed} unreadable file(s)[/], listed with the reason in {out / INDEX_FILE}")
    return table


def localisation_check(
    source: str | Path,
    boxes_csv: str | Path,
    method: str | None = None,
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
        method: an explanation method (not ``feature-maps``; default: the model family's).
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
    if method is not None and (method == "feature-maps" or method not in METHODS):
        raise ConfigError(f"localisation needs a class-specific map; --method {method!r} is not one")
    checkpoint = resolve_checkpoint(source)
    predictor = Predictor.load(checkpoint)
    meta, settings = predictor.meta, predictor.meta.preprocess.settings
    if settings.resize != "stretch" or settings.crop_foreground:
        raise DataError(
            "localisation check: boxes map to the model input only with resize: stretch and no foreground crop"
        )
    boxes = read_boxes(Path(boxes_csv))
    paths, labels = labelled_files(source, meta, data, split)
    label_of = {p: label for p, label in zip(paths, labels, strict=True) if str(Path(p).resolve()) in boxes}
    if not label_of:
        raise DataError(f"{boxes_csv}: none of the {len(paths)} images of the {split} split has a box")
    plan = plan_explanation(predictor.model, meta, method or default_method(predictor.model), None, layer)
    pad = margin * settings.image_size
    images, maps, shown = localisation_maps(predictor, label_of, boxes, plan, pad)
    result = localisation_result(images, maps, shown, plan, pad, figure, max_figure_images)
    result["checkpoint"] = str(checkpoint)
    if out is not None:
        write_json(out, result)
    return result
