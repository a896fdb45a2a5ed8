"""A multi-label model assessed: the per-label operating points chosen on val (stored in the checkpoint) and the
test split scored into test_metrics.json and predictions_test.csv, for ``train``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medclass.assessment.validation import split_images
from medclass.config import Config
from medclass.data.datamodule import MedDataModule
from medclass.data.multilabel import encode
from medclass.evaluation.bootstrap import BOOTSTRAP_SEED
from medclass.evaluation.groups import group_codes
from medclass.evaluation.multilabel import choose_label_rules, multilabel_scores
from medclass.evaluation.operating_points import DEFAULT_REPORT_RULE
from medclass.inference.decision import MultilabelDecision
from medclass.inference.inputs import image_groups_of_table
from medclass.inference.runner import Predictions, Predictor
from medclass.runs import SPLITS_FILE, TEST_METRICS_FILE, TEST_PREDICTIONS_FILE
from medclass.utils.errors import ConfigError, DataError
from medclass.utils.io import write_json


def label_rule_of(config: Config) -> str:
    """The operating-point rule of each label: ``evaluation.operating_point``, else Youden's (a fixed 0.5 suits
    no label whose prevalence is far from one half, which is most findings)."""
    return config.evaluation.operating_point or DEFAULT_REPORT_RULE


def fit_label_rules(checkpoint: Path, datamodule: MedDataModule, config: Config) -> MultilabelDecision:
    """Each label's threshold chosen on the validation split with the best checkpoint.

    Raises:
        ConfigError: a bad ``evaluation.operating_point``.
        DataError: a label without positives or negatives in val.
    """
    predictor = Predictor.load(checkpoint)
    val = predictor.predict_cached(split_images(datamodule, "val"), batch_size=config.data.batch_size)
    rule = label_rule_of(config)
    try:
        rules = choose_label_rules(datamodule.targets["val"], val.probs, predictor.classes, rule, "val")
    except ValueError as exc:
        error = ConfigError if "operating point" in str(exc) else DataError
        raise error(f"evaluation.operating_point / per-label thresholds: {exc}") from None
    return MultilabelDecision(rules)


def write_label_predictions(path: Path, result: Predictions, y_true: np.ndarray, labels: list[str]) -> None:
    """``predictions_test.csv`` of a multi-label model: :meth:`Predictions.table` with the true labels (the
    ``label`` text: positive names joined by ``|``, ``?`` marking an uncertain one) as second column."""
    table = result.table(labels)
    table.insert(1, "label", [encode(row, labels) for row in y_true])
    table.to_csv(path, index=False, float_format="%.6f")


def score_multilabel_test_split(
    checkpoint: Path,
    datamodule: MedDataModule,
    config: Config,
    run_dir: Path,
    best_epoch: int | None,
) -> dict[str, Any] | None:
    """Score the best checkpoint (with its per-label rules) on the test split; writes test_metrics.json and
    predictions_test.csv (None when the test split is empty). With groups in splits.csv, the CIs resample
    groups."""
    if len(datamodule.rows["test"]) == 0:
        return None
    predictor = Predictor.load(checkpoint)
    result = predictor.predict_cached(split_images(datamodule, "test"), batch_size=config.data.batch_size)
    y_true, labels = datamodule.targets["test"], predictor.classes
    groups = image_groups_of_table(run_dir / SPLITS_FILE, result.paths)
    rules = predictor.meta.multilabel
    metrics = multilabel_scores(
        y_true,
        result.probs,
        labels,
        rules.thresholds,
        config.evaluation.bootstrap,
        BOOTSTRAP_SEED,
        clusters=None if groups is None else group_codes(groups),
    )
    metrics["operating_points"] = {
        name: {
            "rule": rule.rule,
            "threshold": rule.threshold,
            "chosen_on": rule.chosen_on,
            "n": rule.n,
            f"{rule.chosen_on}_sensitivity": rule.sensitivity,
            f"{rule.chosen_on}_specificity": rule.specificity,
        }
        for name, rule in rules.rules.items()
    }
    metrics.update(checkpoint=str(checkpoint), split="test", best_epoch=best_epoch)
    write_json(run_dir / TEST_METRICS_FILE, metrics)
    write_label_predictions(run_dir / TEST_PREDICTIONS_FILE, result, y_true, labels)
    return metrics
