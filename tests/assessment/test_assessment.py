"""The assessment package without training: a split scored through it equals the metrics of its probabilities,
the decision fitted on val meets its rule for whichever class is declared positive, and predict's table keeps
the input order, the failures and the one uncertainty rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_image
from torch import nn

from medclass.assessment.predictions import prediction_table
from medclass.assessment.scoring import score_labelled
from medclass.assessment.validation import ValScores, choose_on_val, fit_on_val
from medclass.evaluation.scoring import score
from medclass.inference.decision import Decision, decide, probabilities
from medclass.inference.passes import predictive_entropy
from medclass.inference.runner import Predictions, Predictor
from medclass.inference.spec import ModelSpec
from medclass.utils.errors import ConfigError, DataError, RunDirError

SIZE = 16
CLASSES = ["abnormal", "normal"]


def _predictor(positive: str | None = None, config: dict | None = None) -> Predictor:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 2)
    )
    meta = ModelSpec(
        model={},
        classes=CLASSES,
        preprocess={"settings": {"image_size": SIZE, "channels": 1}, "mean": [0.5], "std": [0.25]},
        decision=Decision(positive_class=positive),
        config=config or {},
    )
    return Predictor(model, meta)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Class folders of small images, with one unreadable file."""
    root = tmp_path / "data"
    for i in range(8):
        write_image(root / CLASSES[i % 2] / f"img{i}.png", size=(20, 24), seed=i)
    (root / "normal" / "broken.png").write_bytes(b"\x89PNG not an image")
    return root


def _val(seed: int = 0, n: int = 60) -> ValScores:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    logits = np.stack([rng.normal(size=n), rng.normal(size=n) + 1.5 * (labels == 1)], axis=1)
    return ValScores(logits, labels)


def test_a_scored_folder_equals_the_metrics_of_its_probabilities(folder: Path, tmp_path: Path) -> None:
    predictor = _predictor()
    checkpoint = tmp_path / "loose.ckpt"  # outside a run folder: no val, no splits.csv
    metrics, result, y_true = score_labelled(
        checkpoint, checkpoint, predictor, folder, "test", predictor.meta.decision, bootstrap=0
    )
    assert len(y_true) == 8 and [s["path"] for s in metrics["skipped"]] == [
        str(folder / "normal" / "broken.png")
    ]
    expected = score(y_true, result.probs, CLASSES, None, 0, positive_class="normal")
    assert {k: metrics[k] for k in ("accuracy", "macro_f1", "n", "auroc")} == {
        k: expected[k] for k in ("accuracy", "macro_f1", "n", "auroc")
    }
    assert metrics["checkpoint"] == str(checkpoint) and metrics["data"] == str(folder)
    assert metrics["split"] is None and metrics["tta"] == 0


def test_a_folder_without_a_readable_image_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for name in CLASSES:
        (root / name).mkdir(parents=True)
        (root / name / "x.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match="none of the 2 image"):
        score_labelled(tmp_path, tmp_path / "m.ckpt", _predictor(), root, "test", Decision(), bootstrap=0)


@pytest.mark.parametrize("positive", CLASSES)
def test_the_threshold_fitted_on_val_meets_its_rule_for_the_declared_positive_class(positive: str) -> None:
    val = _val()
    fitted = fit_on_val(val, CLASSES, operating_point="sensitivity=0.9", positive=positive)
    decision = fitted.decision
    assert decision.positive_class == positive and decision.rule == "sensitivity=0.9"
    index = CLASSES.index(positive)
    predicted = decide(probabilities(val.logits, decision.temperature), decision.threshold, index)
    positives = val.labels == index
    assert (predicted[positives] == index).mean() >= 0.9
    assert fitted.operating_points is not None


def test_calibration_on_val_changes_the_temperature_and_keeps_it_otherwise() -> None:
    val = _val()
    assert fit_on_val(val, CLASSES, calibrate=True).decision.temperature != 1.0
    assert fit_on_val(val, CLASSES, temperature=1.7).decision.temperature == 1.7


def test_an_operating_point_needs_the_runs_validation_split(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="validation split"):
        choose_on_val(tmp_path / "m.ckpt", _predictor(), "youden", None, "normal")
    with pytest.raises(ConfigError):
        choose_on_val(tmp_path / "m.ckpt", _predictor(), "sensitivity=2", _val(), "normal")


def test_the_prediction_table_keeps_the_input_order_and_flags_by_the_one_rule(folder: Path) -> None:
    predictor = _predictor()
    files = sorted(str(p) for p in folder.rglob("*.png"))
    result = predictor.predict_files(files)
    entropy = predictive_entropy(result.probs)
    limit = float(np.median(entropy))
    table = prediction_table(result, files, CLASSES, flag_uncertain=limit)
    assert list(table["path"]) == files
    broken = table[table["path"].str.endswith("broken.png")]
    assert len(broken) == 1 and broken["error"].iloc[0] and np.isnan(broken["entropy"].iloc[0])
    readable = table[table["error"] == ""]
    assert list(readable["uncertain"]) == list(readable["entropy"] > limit)
    assert readable["uncertain"].any() and not readable["uncertain"].all()
    assert "uncertain" not in prediction_table(result, files, CLASSES).columns


def test_a_label_named_as_an_uncertainty_column_is_refused_when_they_are_asked() -> None:
    probs = np.array([[0.9, 0.2], [0.4, 0.6]])
    files = ["a.png", "b.png"]
    result = Predictions(files, probs, probs >= 0.5, {})
    assert prediction_table(result, files, ["entropy", "b"])["entropy"].tolist() == [1, 0]  # its decision
    with pytest.raises(ConfigError, match="label 'entropy' has the name of predict's uncertainty column"):
        prediction_table(result, files, ["entropy", "b"], flag_uncertain=0.3)
    result.entropy, result.std, result.label_std = np.zeros(2), np.zeros(2), np.zeros((2, 2))
    with pytest.raises(ConfigError, match="label 'std_b'"):
        prediction_table(result, files, ["std_b", "b"])
