"""A binary run whose declared positive class sorts first (``abnormal`` before ``normal``): the run, its bundle's
``medclass.json``, ``/v1/model``, ``/v1/predict`` and an ONNX-only client that follows ``medclass.json`` all name
the same positive class and threshold, and all decide every image as ``medclass predict RUN`` does."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from console_script import console_script, script_env
from fastapi.testclient import TestClient

from medclass.api import train
from medclass.api.export import export
from medclass.api.serve import build_app
from medclass.data.synthetic import make_phantom_dataset
from medclass.inference.inputs import labelled_files, load_images
from medclass.inference.runner import Predictor
from medclass.inference.spec import ModelSpec
from medclass.runs.bundle_layout import BUNDLE_FILE
from tests.api.conftest import make_fast_config

POSITIVE = "abnormal"  # the class with lesions; index 0 of ["abnormal", "normal"]


@pytest.fixture(scope="module")
def positive_first_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("positive_first")
    data = make_phantom_dataset(root / "data", n_per_class=40, size=32, seed=3, classes=("normal", POSITIVE))
    train(make_fast_config(data, root / "run", ["evaluation.operating_point=youden"]))
    return root / "run"


@pytest.fixture(scope="module")
def bundle(positive_first_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "onnx"
    export(positive_first_run, "onnx", out=out)
    return out


def _cli_predictions(run: Path, paths: list[str], out: Path) -> pd.DataFrame:
    """``medclass predict RUN FILES --out CSV`` from a terminal."""
    command = [*console_script(), "predict", str(run), *paths, "--out", str(out)]
    done = subprocess.run(command, env=script_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return pd.read_csv(out)


def test_the_run_declares_the_first_class_positive(positive_first_run: Path) -> None:
    spec = Predictor.load(positive_first_run).meta
    assert spec.classes == [POSITIVE, "normal"]
    decision = spec.decision
    assert decision.positive_class == POSITIVE and decision.positive_index == 0 and decision.rule == "youden"
    saved = json.loads((positive_first_run / "test_metrics.json").read_text())
    assert saved["operating_point"]["positive_class"] == POSITIVE
    assert saved["operating_point"]["threshold"] == pytest.approx(decision.threshold)


def test_every_consumer_agrees_with_predict_run(
    positive_first_run: Path, bundle: Path, tmp_path: Path
) -> None:
    predictor = Predictor.load(positive_first_run)
    spec, decision = predictor.meta, predictor.meta.decision
    paths, _ = labelled_files(positive_first_run, spec, None, "test")
    expected = _cli_predictions(positive_first_run, paths, tmp_path / "run.csv")
    called_positive = expected["prediction"] == POSITIVE
    assert called_positive.any() and (~called_positive).any()  # both decisions occur on this split

    info = json.loads((bundle / BUNDLE_FILE).read_text())
    assert info["positive_class"] == POSITIVE and info["threshold"] == pytest.approx(decision.threshold)
    assert ModelSpec.model_validate(info["spec"]).decision == decision

    # An ONNX-only client: the bundle's graph plus medclass.json's rule, on the inputs medclass preprocesses.
    import onnxruntime as ort

    images = load_images(paths, spec)
    inputs = images.tensor(range(len(images.rows)), spec).numpy()
    session = ort.InferenceSession(str(bundle / info["model_file"]), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {info["input"]["name"]: inputs})
    z = logits / info["temperature"]
    probs = np.exp(z - z.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    column = info["classes"].index(info["positive_class"])
    client_positive = probs[:, column] >= info["threshold"]
    assert list(client_positive) == list(called_positive)
    assert list(_cli_predictions(bundle, paths, tmp_path / "bundle.csv")["prediction"]) == list(
        expected["prediction"]
    )

    with TestClient(build_app(positive_first_run)) as client:
        model = client.get("/v1/model").json()
        assert model["positive_class"] == POSITIVE and model["threshold"] == pytest.approx(decision.threshold)
        uploads = [("file", (Path(p).name, Path(p).read_bytes(), "image/png")) for p in paths[:12]]
        results = client.post("/v1/predict", files=uploads).json()["results"]
    assert [r["prediction"] for r in results] == list(expected["prediction"][:12])
    assert [r["above_threshold"] for r in results] == list(called_positive[:12])


def test_fitted_thresholds_lie_between_val_scores(positive_first_run: Path) -> None:
    # A threshold on a val image's probability lets ONNX Runtime's 7th digit flip that image (issue 21).
    predictor = Predictor.load(positive_first_run)
    paths, _ = labelled_files(positive_first_run, predictor.meta, None, "val")
    probs = predictor.predict_files(paths).probs[:, predictor.meta.decision.positive_index]
    assert np.abs(probs - predictor.meta.decision.threshold).min() > 1e-6
