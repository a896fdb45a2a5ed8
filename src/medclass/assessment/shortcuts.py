"""Shortcut screens: warnings that a model (or the data set) may be right for the wrong reason.

Three screens, each with a plain-language verdict, the rule that flags it, and the figure behind it:

- ``metadata``: a small cross-validated model on image metadata alone (size, aspect ratio, bit depth, colour
  mode, file format, file size, mean intensity, border statistics) predicting the label
  (:mod:`~medclass.assessment.shortcut_metadata`). Far above chance: the *data set* carries a shortcut.
- ``masked_anatomy``: the trained model on the images with the body masked out (background and borders only),
  and with the background masked out (:mod:`~medclass.assessment.shortcut_masking`). Far above chance with the
  anatomy gone: the *model* may not be looking at the patient.
- ``outside_body``: the share of the default explanation's energy outside the body outline, against a flat
  map's. Above it: the model's evidence lies outside the patient.

"Far above chance" is one rule for the first two: the lower end of the 95% bootstrap CI lies more than
:data:`MARGIN` above chance; the metadata screen measures balanced accuracy (chance 1/K for K classes: what a
constant or random answer scores), the masked-anatomy screen AUROC (chance 0.5; see
:mod:`~medclass.assessment.shortcut_masking` for why not accuracy). The margin keeps a statistically real but practically small signal (a scanner's slightly brighter images) from
raising the alarm; the CI keeps a small sample from raising it by luck.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medclass.assessment.shortcut_figures import masked_figure, metadata_figure, outside_figure
from medclass.assessment.shortcut_masking import (
    ClassMaps,
    explained_indices,
    masked_pixels,
    masked_scores,
    median_ci,
    outlines,
    outside_shares,
)
from medclass.assessment.shortcut_metadata import describe_metadata, fit_metadata_model, image_metadata
from medclass.evaluation.bootstrap import BOOTSTRAP_SEED, bootstrap_ci
from medclass.inference.inputs import load_images
from medclass.inference.runner import Predictor
from medclass.utils.errors import DataError

MARGIN = 0.10
AUROC_CHANCE = 0.5
METADATA_FIGURE = "shortcut_metadata.png"
MASKED_FIGURE = "shortcut_masked_anatomy.png"
OUTSIDE_FIGURE = "shortcut_outside_body.png"
MASK_METHOD = "Otsu threshold on the model's input pixels, largest connected component, holes filled"


def far_above_chance(ci: dict[str, float | None], chance: float) -> bool:
    """The flag rule: the CI's lower end lies more than :data:`MARGIN` above ``chance``."""
    low = ci.get("ci_low")
    return low is not None and low > chance + MARGIN


def _rule(metric: str, chance: float) -> str:
    return f"flagged when the lower end of the {metric}'s 95% CI exceeds chance ({chance:.2f}) + {MARGIN:.2f}"


def _fmt(ci: dict[str, float | None]) -> str:
    value, low, high = ci.get("value"), ci.get("ci_low"), ci.get("ci_high")
    if value is None:
        return "n/a"
    return (
        f"{value:.2f} (95% CI {low:.2f}-{high:.2f})"
        if low is not None and high is not None
        else f"{value:.2f}"
    )


def metadata_screen(
    files: Sequence[str], y: np.ndarray, classes: Sequence[str], out_dir: Path, seed: int, n_resamples: int
) -> dict[str, Any]:
    """Screen (a): the label from image metadata alone (see the module docstring)."""
    chance = 1.0 / len(classes)
    table, failures = image_metadata(files)
    label_of = dict(zip(map(str, files), y, strict=True))
    y_read = (
        np.array([label_of[p] for p in table["path"]], dtype=np.int64) if len(table) else np.zeros(0, int)
    )
    fit = fit_metadata_model(table, y_read, len(classes), seed) if len(table) else None
    base = {
        "chance": chance,
        "rule": _rule("balanced accuracy", chance),
        "n": len(table),
        "unreadable": len(failures),
    }
    if fit is None:
        return {
            **base,
            "flagged": None,
            "figure": None,
            "verdict": "not run: a class has fewer than 2 readable images",
        }
    ci = bootstrap_ci(y_read, fit.probs, list(classes), n_resamples, BOOTSTRAP_SEED)["balanced_accuracy"]
    flagged = far_above_chance(ci, chance)
    strongest = sorted(fit.single, key=fit.single.get, reverse=True)[:3]
    carriers = ", ".join(f"{name} {fit.single[name]:.2f}" for name in strongest)
    if flagged:
        verdict = (
            f"The data set carries a shortcut: image metadata alone predict the label with balanced accuracy "
            f"{_fmt(ci)} against {chance:.2f} by chance (strongest alone: {carriers}). A model can score well "
            "here without looking at the patient: check that every class comes from the same sources, or "
            "validate on an external site."
        )
    elif ci.get("ci_low") is not None and ci["ci_low"] > chance:
        verdict = (
            f"A weak metadata signal: metadata alone reach a balanced accuracy of {_fmt(ci)} against {chance:.2f} "
            f"by chance, above chance but within the {MARGIN:.2f} margin of the rule (strongest alone: {carriers})."
        )
    else:
        verdict = (
            f"No metadata shortcut found: metadata alone reach a balanced accuracy of {_fmt(ci)} against "
            f"{chance:.2f} by chance (strongest alone: {carriers})."
        )
    metadata_figure(out_dir / METADATA_FIGURE, ci, fit.single, chance)
    return {
        **base,
        "flagged": flagged,
        "figure": METADATA_FIGURE,
        "verdict": verdict,
        "balanced_accuracy": ci,
        "model": "gradient boosting (scikit-learn HistGradientBoostingClassifier), stratified cross-validation",
        "folds": fit.folds,
        "single_feature": fit.single,
        "per_class": describe_metadata(table, y_read, classes),
    }


def _masked_verdict(scores: dict[str, dict[str, dict[str, float | None]]], flagged: bool) -> str:
    anatomy, background = _fmt(scores["masked_anatomy"]["auroc"]), _fmt(scores["masked_background"]["auroc"])
    original = _fmt(scores["original"]["auroc"])
    accuracy = _fmt(scores["masked_anatomy"]["balanced_accuracy"])
    if flagged:
        return (
            f"The model may not be looking at the patient: with the anatomy masked out (borders and background "
            f"only) its scores still separate the classes, AUROC {anatomy} against {AUROC_CHANCE:.2f} by chance "
            f"(unmasked {original}; background masked out {background}; balanced accuracy at its threshold with "
            f"the anatomy masked out {accuracy})."
        )
    low = scores["masked_anatomy"]["auroc"].get("ci_low")
    if low is not None and low > AUROC_CHANCE:
        return (
            f"With the anatomy masked out the model keeps a weak signal: AUROC {anatomy} (chance "
            f"{AUROC_CHANCE:.2f}; unmasked {original}), above chance but within the {MARGIN:.2f} margin of the "
            f"rule: the background, border or outline carry a little of the label. With the background masked "
            f"out: {background}."
        )
    return (
        f"With the anatomy masked out the model's AUROC falls to {anatomy} (chance {AUROC_CHANCE:.2f}; unmasked "
        f"{original}): no sign that it decides from the background. With the background masked out: {background}."
    )


def _examples(images, y: np.ndarray, masks: list[np.ndarray], count: int = 3) -> list[list[np.ndarray]]:
    """(original, anatomy masked, background masked) pixels of the first image of up to ``count`` classes."""
    firsts = [int(np.flatnonzero(y == c)[0]) for c in np.unique(y)][:count]
    conditions = ("original", "masked_anatomy", "masked_background")
    return [[masked_pixels(images.pixels(i), masks[i], c) for c in conditions] for i in firsts]


def screen_shortcuts(
    predictor: Predictor,
    files: Sequence[str],
    labels: Sequence[str],
    classes: Sequence[str],
    out_dir: str | Path,
    *,
    seed: int = 0,
    class_maps: ClassMaps | None = None,
    explain_limit: int = 200,
    n_resamples: int = 1000,
) -> dict[str, Any]:
    """Run the three shortcut screens on labelled files and write their figures into ``out_dir``.

    Args:
        predictor: the frozen model (its preprocessing and decision rule are used as they are).
        files, labels: the images and their class names (every label one of ``classes``).
        classes: the class names (the model's, in its order).
        out_dir: folder for the figures (created if missing; only the three ``shortcut_*.png`` are written).
        seed: seed of the cross-validation folds and of the sample of explained images.
        class_maps: explain's ``default_class_maps`` (handed in by the api: feature packages never import
            each other); None skips the ``outside_body`` screen (``flagged`` null, the reason in ``verdict``).
        explain_limit: at most this many images (a seeded sample) are explained for ``outside_body``.
        n_resamples: bootstrap resamples of every CI.

    Returns:
        JSON-able ``{"metadata", "masked_anatomy", "outside_body", "margin"}``; each screen holds ``flagged``
        (true/false, null when it could not run), ``figure`` (file name in ``out_dir``), ``chance``, ``rule``,
        ``verdict`` (plain language), ``n`` and its numbers: ``metadata.balanced_accuracy``,
        ``masked_anatomy.scores.<original|masked_anatomy|masked_background>.<auroc|balanced_accuracy>``,
        ``outside_body.median_outside`` (each ``value``/``ci_low``/``ci_high``).

    Raises:
        DataError: a label that is not one of ``classes``, or no readable image.

    Example:
        >>> report = screen_shortcuts(Predictor.load("runs/x"), files, labels, ["no", "yes"], "out")  # doctest: +SKIP
        >>> report["metadata"]["flagged"], report["metadata"]["figure"]  # doctest: +SKIP
        (False, 'shortcut_metadata.png')
    """
    classes = list(classes)
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise DataError(f"labels {unknown[:5]} are not classes of the model {classes}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = [str(f) for f in files]
    y_all = np.array([classes.index(label) for label in labels], dtype=np.int64)
    result: dict[str, Any] = {"margin": MARGIN}
    result["metadata"] = metadata_screen(files, y_all, classes, out, seed, n_resamples)

    images = load_images(files, predictor.meta)
    if not images.rows:
        raise DataError(f"none of the {len(files)} images is readable by the model's preprocessing")
    label_of = dict(zip(files, y_all, strict=True))
    y = np.array([label_of[p] for p in images.paths], dtype=np.int64)
    masks = outlines(images)
    masked = masked_scores(predictor, images, y, masks, n_resamples)
    flagged = far_above_chance(masked.scores["masked_anatomy"]["auroc"], AUROC_CHANCE)
    aurocs = {condition: metrics["auroc"] for condition, metrics in masked.scores.items()}
    masked_figure(out / MASKED_FIGURE, _examples(images, y, masks), aurocs, AUROC_CHANCE)
    result["masked_anatomy"] = {
        "flagged": flagged,
        "figure": MASKED_FIGURE,
        "chance": AUROC_CHANCE,
        "rule": _rule("AUROC", AUROC_CHANCE),
        "verdict": _masked_verdict(masked.scores, flagged),
        "n": len(y),
        "unreadable": len(images.failures),
        "scores": masked.scores,
        "mask": MASK_METHOD,
        "median_body_area": masked.body_area,
    }
    result["outside_body"] = _outside_screen(
        predictor, images, y, masks, out, class_maps, explain_limit, seed, n_resamples
    )
    return result


def _outside_screen(
    predictor: Predictor,
    images,
    y: np.ndarray,
    masks: list[np.ndarray],
    out: Path,
    class_maps: ClassMaps | None,
    limit: int,
    seed: int,
    n_resamples: int,
) -> dict[str, Any]:
    """Screen (c): the default explanation's energy outside the body outline, against a flat map's share."""
    flat = 1.0 - float(np.median([m.mean() for m in masks]))
    base = {
        "chance": flat,
        "rule": "flagged when the lower end of the median's 95% CI exceeds a flat map's share (the median area outside the body)",
    }
    if class_maps is None:
        return {
            **base,
            "flagged": None,
            "figure": None,
            "n": 0,
            "verdict": "not run: no explanation method was given",
        }
    try:
        shares = outside_shares(predictor, images, masks, class_maps, explained_indices(y, limit, seed))
    except (ModuleNotFoundError, ValueError) as exc:  # a missing explain extra, a model without a CAM layer
        return {**base, "flagged": None, "figure": None, "n": 0, "verdict": f"not run: {exc}"}
    ci = median_ci(shares.energy, n_resamples)
    chance = float(np.median(shares.area))
    flagged = ci["ci_low"] is not None and ci["ci_low"] > chance
    where = f"{shares.method} at {shares.layer}"
    if flagged:
        verdict = (
            f"The default explanation ({where}) puts a median {_fmt(ci)} of its energy outside the body outline, "
            f"more than a flat map would ({chance:.2f}): part of the model's evidence lies outside the patient."
        )
    else:
        verdict = (
            f"The default explanation ({where}) puts a median {_fmt(ci)} of its energy outside the body outline, "
            f"not more than a flat map would ({chance:.2f})."
        )
    order = np.argsort(-shares.energy)[:3]  # the most outside-looking maps are the ones to look at
    examples = [(images.pixels(shares.indices[k]), shares.maps[k], masks[shares.indices[k]]) for k in order]
    outside_figure(out / OUTSIDE_FIGURE, shares.energy, shares.area, examples)
    return {
        **base,
        "chance": chance,
        "flagged": flagged,
        "figure": OUTSIDE_FIGURE,
        "verdict": verdict,
        "n": len(shares.energy),
        "median_outside": ci,
        "method": shares.method,
        "layer": shares.layer,
        "mask": MASK_METHOD,
    }
