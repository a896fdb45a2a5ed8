"""Temperature and operating point: fitted on validation at the end of training, stored in the checkpoint,
applied by evaluate and predict; and chosen at evaluate time without touching the checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medclass.api import evaluate, predict, train
from medclass.evaluation.calibration import fit_temperature
from medclass.evaluation.decision_fit import fit_decision
from medclass.evaluation.metrics import classification_metrics
from medclass.evaluation.thresholds import threshold_for_sensitivity, youden_threshold
from medclass.inference.checkpoint import load_for_inference, read_checkpoint
from medclass.inference.inputs import labelled_files
from medclass.inference.runner import Predictor
from medclass.utils.errors import ConfigError, RunDirError


def _val_outputs(run: Path):
    model, meta = load_for_inference(run)
    paths, labels = labelled_files(run, meta, None, "val")
    inference = Predictor(model, meta).predict_files(paths)
    y = np.array([meta.classes.index(dict(zip(paths, labels, strict=True))[p]) for p in inference.paths])
    return meta, inference, y


@pytest.fixture(scope="module")
def calibrated_run(phantom_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from api.conftest import make_fast_config

    out = tmp_path_factory.mktemp("runs") / "calibrated"
    config = make_fast_config(
        phantom_data,
        out,
        [
            "evaluation.calibrate=true",
            "evaluation.operating_point=sensitivity=0.9",
            "evaluation.report=false",
        ],
    )
    train(config)
    return out


def test_training_stores_temperature_and_threshold_chosen_on_val(calibrated_run: Path) -> None:
    meta, inference, y_val = _val_outputs(calibrated_run)
    assert meta.decision.temperature == pytest.approx(fit_temperature(inference.logits, y_val), rel=1e-6)
    assert meta.decision.temperature != 1.0
    # The stored temperature lowers the val NLL of the trained model (log-softmax computed here).
    logits = inference.logits.astype(np.float64)

    def nll(temperature: float) -> float:
        z = logits / temperature
        z = z - z.max(axis=1, keepdims=True)
        log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-log_probs[np.arange(len(y_val)), y_val].mean())

    assert nll(meta.decision.temperature) < nll(1.0)
    # inference.probs already use the stored temperature: the threshold is chosen on exactly these.
    expected = threshold_for_sensitivity(y_val == 1, inference.probs[:, 1], 0.9)
    assert meta.decision.threshold == pytest.approx(expected)
    assert np.mean(inference.probs[y_val == 1, 1] >= meta.decision.threshold) >= 0.9
    record = read_checkpoint(calibrated_run / "checkpoints" / "best.ckpt")["medclass"]["decision"]
    assert record["rule"] == "sensitivity=0.9" and record["chosen_on"] == "val"
    assert not (calibrated_run / "report.html").exists()  # evaluation.report: false


def test_test_metrics_report_both_thresholds(calibrated_run: Path) -> None:
    saved = json.loads((calibrated_run / "test_metrics.json").read_text())
    _, meta = load_for_inference(calibrated_run)
    table = pd.read_csv(calibrated_run / "predictions_test.csv")
    y = (table["label"] == "tumor").to_numpy(int)
    probs = table[["p_no_tumor", "p_tumor"]].to_numpy()
    classes = ["no_tumor", "tumor"]
    at_half = classification_metrics(y, probs, classes, 0.5)
    at_chosen = classification_metrics(y, probs, classes, meta.decision.threshold)
    assert saved["threshold"] == pytest.approx(meta.decision.threshold)
    assert saved["accuracy"] == pytest.approx(at_chosen["accuracy"], abs=1e-5)
    assert saved["at_0.5"]["confusion_matrix"] == at_half["confusion_matrix"]
    assert saved["at_threshold"]["confusion_matrix"] == at_chosen["confusion_matrix"]
    assert "ci" in saved["at_0.5"] and "ci" in saved["at_threshold"]
    assert saved["operating_point"]["rule"] == "sensitivity=0.9"
    assert saved["operating_point"]["chosen_on"] == "val"
    assert saved["calibration"]["temperature"] == pytest.approx(meta.decision.temperature)
    assert saved["calibration"]["fitted_on"] == "val"
    assert 0 <= saved["ece"] <= 1
    # predictions_test.csv applies the threshold, not the argmax.
    assert (
        table["prediction"] == np.where(probs[:, 1] >= meta.decision.threshold, "tumor", "no_tumor")
    ).all()


def test_evaluate_and_predict_apply_the_stored_decision(calibrated_run: Path) -> None:
    saved = json.loads((calibrated_run / "test_metrics.json").read_text())
    result = evaluate(calibrated_run, bootstrap=0)
    assert result["confusion_matrix"] == saved["confusion_matrix"]
    assert result["operating_point"]["rule"] == "sensitivity=0.9"
    _, meta = load_for_inference(calibrated_run)
    table = pd.read_csv(calibrated_run / "predictions_test.csv")
    predicted = predict(calibrated_run / "checkpoints" / "best.ckpt", list(table["path"]))
    assert (
        predicted["prediction"]
        == np.where(predicted["p_tumor"] >= meta.decision.threshold, "tumor", "no_tumor")
    ).all()
    assert predicted["p_tumor"].to_numpy() == pytest.approx(table["p_tumor"].to_numpy(), abs=1e-5)


def test_evaluate_chooses_an_operating_point_on_val_without_changing_the_checkpoint(
    trained_run: Path,
) -> None:
    best = trained_run / "checkpoints" / "best.ckpt"
    before = best.read_bytes()
    result = evaluate(trained_run, operating_point="youden", bootstrap=20)
    assert best.read_bytes() == before
    _, inference, y_val = _val_outputs(trained_run)
    threshold = youden_threshold(y_val == 1, inference.probs[:, 1])
    assert result["threshold"] == pytest.approx(threshold)
    point = result["operating_point"]
    assert (point["rule"], point["chosen_on"], point["n"]) == ("youden", "val", len(y_val))
    assert point["threshold"] == pytest.approx(threshold)
    assert result["at_0.5"]["threshold"] == 0.5
    assert result["at_threshold"]["accuracy"] == result["accuracy"]
    assert set(result["at_0.5"]["ci"]) >= {"accuracy", "per_class"}


def test_bad_rules_and_multiclass_models_are_refused(trained_run: Path) -> None:
    with pytest.raises(ConfigError, match="allowed forms"):
        evaluate(trained_run, operating_point="sensitivity=high")
    logits = np.random.default_rng(0).normal(size=(12, 3))
    with pytest.raises(ConfigError, match="binary tasks only"):
        fit_decision(logits, np.arange(12) % 3, ["a", "b", "c"], operating_point="youden")
    # Calibration alone works for any number of classes.
    decision = fit_decision(logits, np.arange(12) % 3, ["a", "b", "c"], calibrate=True)
    assert decision.threshold is None and decision.temperature > 0


def test_operating_point_needs_the_runs_validation_split(trained_run: Path, tmp_path: Path) -> None:
    loose = tmp_path / "model.ckpt"
    loose.write_bytes((trained_run / "checkpoints" / "best.ckpt").read_bytes())
    with pytest.raises(RunDirError, match="validation split"):
        evaluate(loose, operating_point="youden")
