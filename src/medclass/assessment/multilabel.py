"""A multi-label model assessed: the per-label operating points chosen on val (stored in the checkpoint) and the
test split scored into test_metrics.json and predictions_test.csv, for ``train``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medclass.assessment.validation import split_images
from medclass.config import Config
from medclass.data.datamodule import MedDataModule
from medclass.data.multilabel import encode, label_matrix
from medclass.evaluation.bootstrap import BOOTSTRAP_SEED
from medclass.evaluation.groups import group_codes
from medclass.evaluation.multilabel import fit_label_decision, multilabel_scores
from medclass.evaluation.operating_points import DEFAULT_REPORT_RULE
from medclass.inference.decision import MultilabelDecision
from medclass.inference.inputs import image_groups, image_groups_of_table, label_options_of, labelled_files
from medclass.inference.runner import Predictions, Predictor
from medclass.runs import SPLITS_FILE, TEST_METRICS_FILE, TEST_PREDICTIONS_FILE
from medclass.utils.errors import ConfigError, DataError
from medclass.utils.io import write_json


def label_rule_of(config: Config) -> str:
    """The operating-point rule of each label: ``evaluation.operating_point``, else Youden's (a fixed 0.5 suits
    no label whose prevalence is far from one half, which is most findings)."""
    return config.evaluation.operating_point or DEFAULT_REPORT_RULE


def fit_label_rules(checkpoint: Path, datamodule: MedDataModule, config: Config) -> MultilabelDecision:
    """Each label's temperature (``evaluation.calibrate``) and then its threshold, chosen on the validation
    split with the best checkpoint (see :func:`medclass.evaluation.multilabel.fit_label_decision`).

    Raises:
        ConfigError: a bad ``evaluation.operating_point``.
        DataError: a label without positives or negatives in val.
    """
    predictor = Predictor.load(checkpoint)
    val = predictor.predict_cached(split_images(datamodule, "val"), batch_size=config.data.batch_size)
    rule = label_rule_of(config)
    try:
        return fit_label_decision(
            val.logits,
            datamodule.targets["val"],
            predictor.classes,
            rule,
            calibrate=config.evaluation.calibrate,
        )
    except ValueError as exc:
        error = ConfigError if "operating point" in str(exc) else DataError
        raise error(f"evaluation.operating_point / per-label thresholds: {exc}") from None


def add_label_calibration(metrics: dict[str, Any], rules: MultilabelDecision) -> dict[str, Any]:
    """``metrics`` (of :func:`multilabel_scores`) with each label's ``calibration`` block in ``per_label``: its
    temperature and its ECE on val before and after it (see :meth:`LabelRule.calibration`)."""
    for name, rule in rules.rules.items():
        metrics["per_label"][name]["calibration"] = rule.calibration()
    return metrics


def operating_points(rules: MultilabelDecision) -> dict[str, Any]:
    """The ``operating_points`` block of a multi-label metrics JSON: how each label's threshold was chosen."""
    return {
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


def score_labelled_labels(
    source: str | Path,
    checkpoint: Path,
    predictor: Predictor,
    data: str | Path | None,
    split: str,
    bootstrap: int | None = None,
    tta: int = 0,
) -> dict[str, Any]:
    """``evaluate`` of a multi-label model: its stored per-label rules scored on a labelled data set (``data``,
    the manifest or npz layouts of :mod:`medclass.data.multilabel`) or on the run's ``split`` rows, with CIs
    over images (over groups when they are known); ``tta`` N > 0 scores each label's sigmoid probability
    averaged over N test-time augmented views (recorded as ``tta``).

    Raises:
        DataError: none of the images is readable.
    """
    meta = predictor.meta
    paths, texts = labelled_files(source, meta, data, split)
    result = predictor.predict_files(paths, tta=tta)
    if not result.paths:
        first, reason = next(iter(result.failures.items()), ("-", "no file"))
        raise DataError(f"none of the {len(paths)} image(s) to evaluate is readable (e.g. {first}: {reason})")
    label_of = dict(zip(paths, texts, strict=True))
    y_true = label_matrix([label_of[p] for p in result.paths], meta.classes, str(data or split))
    groups = image_groups(source, data, result.paths, label_options_of(meta))
    settings = meta.config.get("evaluation", {})
    metrics = multilabel_scores(
        y_true,
        result.probs,
        meta.classes,
        meta.multilabel.thresholds,
        int(settings.get("bootstrap", 1000)) if bootstrap is None else bootstrap,
        BOOTSTRAP_SEED,
        clusters=None if groups is None else group_codes(groups),
    )
    metrics["operating_points"] = operating_points(meta.multilabel)
    add_label_calibration(metrics, meta.multilabel)
    metrics.update(
        checkpoint=str(checkpoint),
        data=str(data) if data is not None else None,
        split=split if data is None else None,
        tta=tta,
        skipped=[{"path": p, "reason": r} for p, r in result.failures.items()],
    )
    return metrics


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
    metrics["operating_points"] = operating_points(rules)
    add_label_calibration(metrics, rules)
    metrics.update(checkpoint=str(checkpoint), split="test", best_epoch=best_epoch)
    write_json(run_dir / TEST_METRICS_FILE, metrics)
    write_label_predictions(run_dir / TEST_PREDICTIONS_FILE, result, y_true, labels)
    return metrics
