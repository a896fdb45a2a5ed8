"""A multi-label ensemble folder assessed (``medclass ensemble``): its per-label thresholds chosen on the val rows
of its splits.csv with the members' rule, as training chooses a model's, and its test rows scored into the
multi-label test_metrics.json and predictions_test.csv."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medclass.assessment.multilabel import add_label_calibration, operating_points, write_label_predictions
from medclass.data.multilabel import label_matrix
from medclass.evaluation.bootstrap import BOOTSTRAP_SEED
from medclass.evaluation.groups import group_codes
from medclass.evaluation.multilabel import fit_label_decision, multilabel_scores
from medclass.evaluation.operating_points import DEFAULT_REPORT_RULE
from medclass.inference.decision import MultilabelDecision
from medclass.inference.inputs import image_groups_of_table, labelled_files
from medclass.inference.runner import Predictions, Predictor
from medclass.inference.spec import ModelSpec
from medclass.runs import SPLITS_FILE, TEST_PREDICTIONS_FILE
from medclass.utils.errors import ConfigError, DataError


def members_label_rule(specs: Sequence[ModelSpec], sources: Sequence[str]) -> str:
    """The operating-point rule the members chose their per-label thresholds by (Youden's where none was fitted).

    Raises:
        ConfigError: members that chose them by different rules (two named).
    """
    rules = [next(iter(spec.multilabel.rules.values())).rule or DEFAULT_REPORT_RULE for spec in specs]
    for rule, source in zip(rules[1:], sources[1:], strict=True):
        if rule != rules[0]:
            raise ConfigError(
                f"ensemble: {sources[0]} chose its per-label thresholds by {rules[0]!r} and {source} by {rule!r}; "
                "ensemble runs trained with the same evaluation.operating_point"
            )
    return rules[0]


def split_label_predictions(
    predictor: Predictor, run_dir: Path, split: str
) -> tuple[Predictions, np.ndarray]:
    """The predictions of the ``split`` rows of ``run_dir/splits.csv`` and their ``(N, K)`` targets.

    Raises:
        DataError: no such rows, or none of the images is readable.
    """
    paths, texts = labelled_files(run_dir, predictor.meta, None, split)
    result = predictor.predict_files(paths)
    if not result.paths:
        first, reason = next(iter(result.failures.items()), ("-", "no file"))
        raise DataError(f"none of the {len(paths)} {split} image(s) is readable (e.g. {first}: {reason})")
    label_of = dict(zip(paths, texts, strict=True))
    y_true = label_matrix([label_of[p] for p in result.paths], predictor.classes, str(run_dir / SPLITS_FILE))
    return result, y_true


def fit_run_label_rules(predictor: Predictor, run_dir: Path, rule: str) -> MultilabelDecision:
    """Each label's threshold chosen by ``rule`` on the val rows of ``run_dir/splits.csv``.

    Raises:
        DataError: a label without positives or negatives in val.
    """
    result, y_true = split_label_predictions(predictor, run_dir, "val")
    try:
        return fit_label_decision(result.logits, y_true, predictor.classes, rule)
    except ValueError as exc:
        raise DataError(f"{run_dir / SPLITS_FILE}: per-label thresholds: {exc}") from None


def score_run_label_test_split(predictor: Predictor, run_dir: Path, bootstrap: int) -> dict[str, Any]:
    """The multi-label metrics of the test rows of ``run_dir/splits.csv`` at the model's per-label thresholds
    (CIs over groups when splits.csv has them); writes ``predictions_test.csv``."""
    result, y_true = split_label_predictions(predictor, run_dir, "test")
    groups = image_groups_of_table(run_dir / SPLITS_FILE, result.paths)
    rules = predictor.meta.multilabel
    metrics = multilabel_scores(
        y_true,
        result.probs,
        predictor.classes,
        rules.thresholds,
        bootstrap,
        BOOTSTRAP_SEED,
        clusters=None if groups is None else group_codes(groups),
    )
    metrics["operating_points"] = operating_points(rules)
    add_label_calibration(metrics, rules)
    metrics.update(split="test", best_epoch=None)
    write_label_predictions(run_dir / TEST_PREDICTIONS_FILE, result, y_true, predictor.classes)
    return metrics
