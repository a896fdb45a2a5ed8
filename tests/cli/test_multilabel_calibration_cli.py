"""`evaluation.calibrate: true` on multi-label data from the CLI: a temperature per label fitted on val (the shapes
set with 12% of its labels flipped, so that no label is separable on val and every temperature is fitted),
stored in the checkpoint, applied by predict, evaluate, the exported bundle and serve alike, with the thresholds chosen on the
calibrated probabilities and each label's val ECE before and after in test_metrics.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from medclass.cli.app import run_app
from medclass.data.multilabel import label_matrix
from medclass.data.synthetic import SHAPE_LABELS, make_shapes_multilabel
from medclass.inference.decision import label_probabilities
from tests.cli.test_multilabel_train_cli import FAST

LABELS = sorted(SHAPE_LABELS)


@pytest.fixture(scope="module")
def calibrated_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("calibrated")
    manifest = make_shapes_multilabel(root / "shapes", n=160, size=32, seed=1, layout="columns")
    table = pd.read_csv(manifest)
    rng = np.random.default_rng(0)
    for name in LABELS:  # label noise: the model cannot separate val perfectly
        flip = rng.random(len(table)) < 0.12
        table.loc[flip, name] = 1 - table.loc[flip, name]
    table.to_csv(manifest, index=False)
    out = root / "run"
    args = ["train", "--data", str(manifest), "--label-columns", ",".join(LABELS), "--out", str(out), *FAST]
    assert run_app([*args, "--set", "evaluation.calibrate=true"]) == 0
    return out


def test_a_temperature_per_label_is_fitted_stored_and_reported(calibrated_run: Path) -> None:
    rules = torch.load(calibrated_run / "checkpoints" / "best.ckpt", weights_only=False)["medclass"]
    rules = rules["multilabel"]["rules"]
    assert list(rules) == LABELS
    metrics = json.loads((calibrated_run / "test_metrics.json").read_text())
    for name, rule in rules.items():
        assert rule["temperature_kept"] is None and rule["temperature"] != pytest.approx(1.0, abs=1e-3), name
        assert 0.01 < rule["temperature"] < 100  # fitted inside the search range, not at a bound
        block = metrics["per_label"][name]["calibration"]
        assert block["temperature"] == rule["temperature"] and block["fitted_on"] == "val"
        assert block["val_ece_before"] == rule["ece_before"] and block["val_ece_after"] == rule["ece_after"]

    # The thresholds were chosen on the calibrated val probabilities: predicting val with the stored model
    # reproduces each label's stored val sensitivity and specificity at its threshold.
    from medclass.inference.runner import Predictor

    splits = pd.read_csv(calibrated_run / "splits.csv", keep_default_na=False)
    val = splits[splits["split"] == "val"]
    result = Predictor.load(calibrated_run).predict_files(list(val["path"]))
    truth = label_matrix(list(val["label"]), LABELS) == 1
    for j, name in enumerate(LABELS):
        decided = result.probs[:, j] >= rules[name]["threshold"]
        assert decided[truth[:, j]].mean() == pytest.approx(rules[name]["sensitivity"]), name
        assert (~decided[~truth[:, j]]).mean() == pytest.approx(rules[name]["specificity"]), name


def test_predict_the_bundle_and_serve_give_the_same_calibrated_probabilities(
    calibrated_run: Path, tmp_path: Path
) -> None:
    from medclass.api import predict
    from medclass.api.export import export
    from medclass.inference.runner import Predictor

    files = list(pd.read_csv(calibrated_run / "predictions_test.csv")["path"][:8])
    predicted = predict(calibrated_run, files)
    model = Predictor.load(calibrated_run)
    raw = model.predict_files(files).logits
    temperatures = model.meta.multilabel.temperatures
    probs = predicted[[f"p_{n}" for n in LABELS]].to_numpy()
    assert probs == pytest.approx(label_probabilities(raw, temperatures), abs=1e-6)
    assert not np.allclose(probs, label_probabilities(raw), atol=1e-3)  # the temperatures change them

    bundle = Path(export(calibrated_run, "onnx", out=tmp_path / "bundle")["path"])
    info = json.loads((bundle / "medclass.json").read_text())
    assert [info["labels"][n]["temperature"] for n in LABELS] == temperatures.tolist()
    assert info["check"]["agreement"] == 1.0
    exported = Predictor.load(bundle).predict_files(files)
    assert np.abs(exported.probs - probs).max() < 1e-5
    assert exported.predicted.tolist() == predicted[LABELS].astype(bool).to_numpy().tolist()

    from fastapi.testclient import TestClient

    from medclass.api.serve import build_app

    uploads = [("file", (Path(p).name, Path(p).read_bytes(), "image/png")) for p in files]
    with TestClient(build_app(bundle)) as client:
        served = client.post("/v1/predict", files=uploads).json()["results"]
        described = client.get("/v1/model").json()
    assert described["task"] == "multilabel"
    assert {n: described["labels"][n] for n in LABELS} == {n: info["labels"][n] for n in LABELS}
    served_probs = [[result["labels"][n]["probability"] for n in LABELS] for result in served]
    assert np.abs(np.array(served_probs) - probs).max() < 1e-5


def test_evaluate_scores_with_the_stored_temperatures(calibrated_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "again.json"
    assert run_app(["evaluate", str(calibrated_run), "--out", str(out), "--bootstrap", "0"]) == 0
    again = json.loads(out.read_text())["per_label"]
    trained = json.loads((calibrated_run / "test_metrics.json").read_text())["per_label"]
    for name in LABELS:
        assert again[name]["calibration"] == trained[name]["calibration"]
        assert again[name]["ece"] == pytest.approx(trained[name]["ece"])
        assert again[name]["auroc"]["value"] == pytest.approx(trained[name]["auroc"]["value"])


def test_the_report_has_a_reliability_diagram_and_the_temperature_of_each_label(
    calibrated_run: Path, tmp_path: Path
) -> None:
    # The report's calibration section and figure, drawn from the run's files (the whole report of a multi-label
    # run is built in test_multilabel_train_cli.py).
    from medclass.reporting.multilabel_figures import label_scores, plot_label_reliability
    from medclass.reporting.multilabel_report import calibration_section
    from medclass.reporting.run_report_results import _Figs
    from medclass.runs import load_run

    run = load_run(calibrated_run)
    metrics = json.loads((calibrated_run / "test_metrics.json").read_text())
    html = calibration_section(run, _Figs(run, None))
    table = re.search(r'<table id="label-calibration">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert table, "no label-calibration table"
    rows = [
        re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(1))
    ]
    for row, name in zip(rows, LABELS, strict=True):
        block = metrics["per_label"][name]["calibration"]
        figures = [f"{block[key]:.3f}" for key in ("temperature", "val_ece_before", "val_ece_after")]
        assert row[:4] == [name, *figures]
    temperatures = {n: metrics["per_label"][n]["calibration"]["temperature"] for n in LABELS}
    figure = plot_label_reliability(label_scores(run), tmp_path / "label_reliability.png", temperatures)
    assert figure.stat().st_size > 1000
