"""A split scored: the metrics block of a metrics JSON and the per-image predictions CSV, the one home for the
test evaluation at the end of ``train``, for ``evaluate`` (with test-time augmentation when asked) and for
``ensemble``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medclass.assessment.validation import (
    ValDecision,
    ValScores,
    operating_points,
    split_images,
)
from medclass.config import Config
from medclass.data.datamodule import MedDataModule
from medclass.evaluation.bootstrap import BOOTSTRAP_SEED
from medclass.evaluation.groups import GroupAggregate
from medclass.evaluation.scoring import decision_blocks, score
from medclass.inference.decision import Decision
from medclass.inference.inputs import image_groups, image_groups_of_table, labelled_files
from medclass.inference.runner import Predictions, Predictor
from medclass.runs import SPLITS_FILE, TEST_METRICS_FILE, TEST_PREDICTIONS_FILE
from medclass.utils.errors import DataError
from medclass.utils.io import write_json


def score_predictions(
    result: Predictions,
    y_true: np.ndarray,
    classes: Sequence[str],
    threshold: float | None,
    bootstrap: int,
    groups: Sequence[object] | None = None,
    group_aggregate: GroupAggregate = "mean",
    positive: str | None = None,
    points: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The metrics of a split's predictions at ``threshold`` (see :func:`medclass.evaluation.scoring.score`),
    with bootstrap CIs seeded by :data:`BOOTSTRAP_SEED` (not the run's seed: every command gives the same CIs
    for one model and split)."""
    return score(
        y_true,
        result.probs,
        list(classes),
        threshold,
        bootstrap,
        BOOTSTRAP_SEED,
        groups,
        group_aggregate,
        positive,
        points,
    )


def write_predictions(path: Path, result: Predictions, y_true: np.ndarray, classes: Sequence[str]) -> None:
    """``predictions_test.csv``: :meth:`Predictions.table` with the true ``label`` as second column."""
    table = result.table(list(classes))
    table.insert(1, "label", [classes[i] for i in y_true])
    table.to_csv(path, index=False, float_format="%.6f")


def score_training_test_split(
    checkpoint: Path,
    datamodule: MedDataModule,
    config: Config,
    run_dir: Path,
    fitted: ValDecision,
    best_epoch: int | None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Score the best checkpoint (with its stored decision) on the data module's test split; writes
    test_metrics.json and predictions_test.csv (None when the test split is empty).

    ``fitted`` adds how the decision was chosen and the val operating points to the JSON, ``best_epoch`` the
    checkpoint's epoch; with groups in splits.csv the CIs resample groups and ``by_group`` is added; ``extra``
    entries are added as they are.
    """
    if len(datamodule.rows["test"]) == 0:
        return None
    predictor = Predictor.load(checkpoint)
    result = predictor.predict_cached(split_images(datamodule, "test"), batch_size=config.data.batch_size)
    y_true, classes = datamodule.targets["test"], predictor.classes
    settings = config.evaluation
    metrics = score_predictions(
        result,
        y_true,
        classes,
        predictor.meta.decision.threshold,
        settings.bootstrap,
        groups=image_groups_of_table(run_dir / SPLITS_FILE, result.paths),
        group_aggregate=settings.group_aggregate,
        positive=fitted.decision.positive_class,
        points=fitted.operating_points,
    )
    metrics.update(decision_blocks(fitted.decision))
    metrics.update(checkpoint=str(checkpoint), split="test", best_epoch=best_epoch)
    metrics.update(extra or {})
    write_json(run_dir / TEST_METRICS_FILE, metrics)
    write_predictions(run_dir / TEST_PREDICTIONS_FILE, result, y_true, classes)
    return metrics


def score_run_test_split(predictor: Predictor, out_dir: Path, bootstrap: int) -> dict[str, Any]:
    """Score ``predictor`` at its threshold on the test rows of ``out_dir/splits.csv`` (an ensemble folder);
    writes ``predictions_test.csv``."""
    paths, labels = labelled_files(out_dir, predictor.meta, None, "test")
    result, y_true = predictor.predict_labelled(paths, labels)
    classes = predictor.classes
    metrics = score_predictions(
        result,
        y_true,
        classes,
        predictor.meta.decision.threshold,
        bootstrap,
        groups=image_groups_of_table(out_dir / SPLITS_FILE, result.paths),
    )
    metrics.update(split="test", best_epoch=None)
    write_predictions(out_dir / TEST_PREDICTIONS_FILE, result, y_true, classes)
    return metrics


def score_labelled(
    source: str | Path,
    checkpoint: Path,
    predictor: Predictor,
    data: str | Path | None,
    split: str,
    decision: Decision,
    val: ValScores | None = None,
    bootstrap: int | None = None,
    tta: int = 0,
) -> tuple[dict[str, Any], Predictions, np.ndarray]:
    """Score the model of ``checkpoint`` at ``decision`` on a labelled data set (``data``, any layout) or on the run's ``split``
    rows (``evaluate``): the metrics (with how the decision was chosen, the operating points chosen on ``val``
    beside it, the checkpoint, ``tta`` and the skipped files), the predictions and the true class indices.

    ``tta`` N > 0 scores the mean probability of N test-time augmented views; ``bootstrap`` defaults to the
    run config's ``evaluation.bootstrap``; with groups (splits.csv, or a CSV ``data``) the CIs resample groups.

    Raises:
        DataError: none of the images is readable.
    """
    meta = predictor.meta
    paths, labels = labelled_files(source, meta, data, split)
    positive = decision.positive_class
    points = operating_points(val, meta.classes, decision, positive)
    result, y_true = predictor.predict_labelled(paths, labels, tta=tta)
    if len(y_true) == 0:
        first, reason = next(iter(result.failures.items()), ("-", "no file"))
        raise DataError(f"none of the {len(paths)} image(s) to evaluate is readable (e.g. {first}: {reason})")
    settings = meta.config.get("evaluation", {})
    bootstrap = int(settings.get("bootstrap", 1000)) if bootstrap is None else bootstrap
    metrics = score_predictions(
        result,
        y_true,
        meta.classes,
        decision.threshold,
        bootstrap,
        image_groups(source, data, result.paths),
        settings.get("group_aggregate", "mean"),
        positive,
        points,
    )
    metrics.update(
        decision_blocks(decision),
        checkpoint=str(checkpoint),
        data=str(data) if data is not None else None,
        split=split if data is None else None,
        tta=tta,
        skipped=[{"path": p, "reason": r} for p, r in result.failures.items()],
    )
    return metrics, result, y_true
