"""The decision rule fitted on the validation split: the one home for ``train`` (after fitting) and
``evaluate --operating-point`` (a threshold chosen on the run's val images, the checkpoint unchanged)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medclass.data.datamodule import MedDataModule
from medclass.evaluation.decision_fit import check_operating_point, fit_decision
from medclass.evaluation.scoring import val_operating_points
from medclass.inference.decision import Decision
from medclass.inference.inputs import CachedImages, labelled_files
from medclass.inference.runner import Predictor
from medclass.utils.errors import DataError, RunDirError


@dataclass
class ValScores:
    """The model's logits on the validation split and the true class indices."""

    logits: np.ndarray
    labels: np.ndarray


@dataclass
class ValDecision:
    """The decision rule fitted on val, and the operating points reported beside it."""

    decision: Decision
    operating_points: dict[str, Any] | None


def split_images(datamodule: MedDataModule, split: str) -> CachedImages:
    """The cached images of one split of the data module, for :class:`Predictor`."""
    return CachedImages(cache=datamodule.cache, rows=list(datamodule.rows[split]), failures={})


def training_val_scores(predictor: Predictor, datamodule: MedDataModule, batch_size: int) -> ValScores:
    """The logits of the data module's validation split (training's cache, no file read again)."""
    val = predictor.predict_cached(split_images(datamodule, "val"), batch_size=batch_size)
    return ValScores(val.logits, datamodule.targets["val"])


def run_val_scores(source: str | Path, predictor: Predictor) -> ValScores | None:
    """The logits and labels of the run's validation split (None for a checkpoint outside a run folder or a
    run without val rows)."""
    try:
        paths, labels = labelled_files(source, predictor.meta, None, "val")
    except (RunDirError, DataError):
        return None
    result, y_val = predictor.predict_labelled(paths, labels)
    return ValScores(result.logits, y_val)


def operating_points(
    val: ValScores | None, classes: Sequence[str], decision: Decision, positive: str | None
) -> dict[str, Any] | None:
    """The operating points chosen on val that the metrics show beside ``decision`` (None without val)."""
    if val is None:
        return None
    return val_operating_points(val.logits, val.labels, list(classes), decision, positive)


def fit_on_val(
    val: ValScores,
    classes: Sequence[str],
    *,
    calibrate: bool = False,
    operating_point: str | None = None,
    temperature: float = 1.0,
    positive: str | None = None,
) -> ValDecision:
    """Fit the temperature (``calibrate``, else ``temperature`` is kept) and the binary threshold
    (``operating_point``) on val, and choose the operating points shown beside them.

    Raises:
        ConfigError: a bad rule, or a rule for a task that is not binary.
        DataError: the split is empty, or lacks positives or negatives for a threshold rule.
    """
    decision = fit_decision(
        val.logits,
        val.labels,
        list(classes),
        calibrate=calibrate,
        operating_point=operating_point,
        temperature=temperature,
        split="val",
        positive_class=positive,
    )
    return ValDecision(decision, operating_points(val, classes, decision, positive))


def choose_on_val(
    source: str | Path, predictor: Predictor, rule: str, val: ValScores | None, positive: str | None
) -> Decision:
    """A threshold chosen with ``rule`` on the run's validation split, keeping the model's temperature
    (``evaluate --operating-point``; the checkpoint is not changed).

    Raises:
        ConfigError: a bad rule, or one for a model that is not binary.
        RunDirError: no validation split (a checkpoint outside a run folder).
    """
    rule = check_operating_point(rule, predictor.classes)
    if val is None:
        raise RunDirError(
            f"{source}: --operating-point chooses the threshold on the run's validation split; give the run "
            "folder (or a checkpoint inside its checkpoints/ folder)"
        )
    temperature = predictor.meta.decision.temperature
    return fit_on_val(
        val, predictor.classes, operating_point=rule, temperature=temperature, positive=positive
    ).decision
