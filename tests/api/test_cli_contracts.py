"""Contracts of export, predict, evaluate and explain through the installed ``medclass`` console script (issue 21):
each test asserts the outcome a user sees (the ONNX file's opset and operators, the CSV and JSON written), so a
command that ignores one of its options fails here, not only a function below it. The references (the float
export, predict of the run) are computed in this process: one child process per contract keeps the tests cheap."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from console_script import console_script, script_env

from medclass.api import predict
from medclass.api.export import export
from tests.api.conftest import make_fast_config

# Operators onnxruntime's dynamic quantization puts in place of float Conv/Gemm/MatMul.
QUANTIZED_OPS = {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger"}
OPSET = 13  # not the default (17): an export that ignores --opset records the default instead


def medclass(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``medclass ARGS`` through the console script, as a user runs it."""
    command = [*console_script(), *(str(a) for a in args)]
    return subprocess.run(command, capture_output=True, text=True, env=script_env(), timeout=timeout)


def _test_split(run: Path) -> pd.DataFrame:
    splits = pd.read_csv(run / "splits.csv")
    return splits[splits["split"] == "test"]


def _probabilities(table: pd.DataFrame) -> np.ndarray:
    return table[[c for c in table.columns if c.startswith("p_")]].to_numpy()


@pytest.fixture(scope="module")
def wide_run(phantom_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-epoch run whose dense head holds most of the weights, so that int8 weights make a smaller file
    (in the tiny model of ``trained_run`` the quantization's extra nodes outweigh what the weights save)."""
    from medclass.api import train

    out = tmp_path_factory.mktemp("wide") / "run"
    overrides = [
        "trainer.epochs=1",
        "evaluation.report=false",
        "evaluation.bootstrap=0",
        "model.cnn.blocks=[{out_channels: 16}, {out_channels: 32}]",
        "model.cnn.dense=[256]",
    ]
    train(make_fast_config(phantom_data, out, overrides))
    return out


def _onnx_graph(bundle: Path) -> tuple[int, set[str], set[int]]:
    """The default-domain opset, the operator types and the initializer element types of ``bundle``'s model."""
    import onnx

    model = onnx.load(str(bundle / "model.onnx"))
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    return opset, {n.op_type for n in model.graph.node}, {t.data_type for t in model.graph.initializer}


def test_export_onnx_records_the_opset_and_dynamic_quantization_makes_an_int8_model(
    wide_run: Path, tmp_path: Path
) -> None:
    import onnx

    plain, quantized = tmp_path / "fp32", tmp_path / "int8"
    export(wide_run, "onnx", out=plain, opset=OPSET)  # the float model to compare with
    done = medclass(
        "export", wide_run, "--format", "onnx", "--opset", OPSET, "--quantize", "dynamic", "--out", quantized
    )
    assert done.returncode == 0, done.stderr

    plain_opset, plain_ops, plain_types = _onnx_graph(plain)
    int8_opset, int8_ops, int8_types = _onnx_graph(quantized)
    assert plain_opset == int8_opset == OPSET
    assert not plain_ops & QUANTIZED_OPS and onnx.TensorProto.INT8 not in plain_types
    assert int8_ops & QUANTIZED_OPS, int8_ops
    assert onnx.TensorProto.INT8 in int8_types  # the weights themselves are int8
    assert (quantized / "model.onnx").stat().st_size < 0.6 * (plain / "model.onnx").stat().st_size
    info = {b: json.loads((b / "medclass.json").read_text()) for b in (plain, quantized)}
    assert info[plain]["opset"] == info[quantized]["opset"] == OPSET
    assert (info[plain]["quantize"], info[quantized]["quantize"]) == (None, "dynamic")
    # The check against PyTorch on the test split: the float export is exact, the int8 one is not.
    assert info[plain]["check"]["max_abs_diff"] < 1e-5 < info[quantized]["check"]["max_abs_diff"]


def test_export_torchscript_with_quantize_is_refused_with_exit_2(trained_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "ts"
    done = medclass("export", trained_run, "--format", "torchscript", "--quantize", "dynamic", "--out", out)
    assert done.returncode == 2, done.stdout + done.stderr
    err = done.stderr.strip()
    assert len(err.splitlines()) == 1 and "--quantize" in err and "Traceback" not in err, err
    assert not out.exists()


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_predict_bundle_equals_predict_run(trained_run: Path, tmp_path: Path, fmt: str) -> None:
    bundle = Path(export(trained_run, fmt, out=tmp_path / "bundle")["path"])
    images = _test_split(trained_run)["path"].tolist()
    done = medclass("predict", bundle, *images, "--out", tmp_path / "bundle.csv")
    assert done.returncode == 0, done.stderr
    from_bundle = pd.read_csv(tmp_path / "bundle.csv")
    run = predict(trained_run, images)
    assert len(from_bundle) == len(images) and list(from_bundle["path"]) == list(run["path"])
    assert list(from_bundle["prediction"]) == list(run["prediction"])
    np.testing.assert_allclose(_probabilities(from_bundle), _probabilities(run), atol=1e-5)


def test_evaluate_tta_scores_the_mean_of_the_views(trained_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "tta.json"
    done = medclass("evaluate", trained_run, "--tta", "4", "--bootstrap", "0", "--out", out)
    assert done.returncode == 0, done.stderr
    scored = json.loads(out.read_text())
    plain = json.loads((trained_run / "test_metrics.json").read_text())  # what evaluate gives without --tta
    test = _test_split(trained_run)
    views = predict(trained_run, test["path"].tolist(), tta=4)
    assert scored["tta"] == 4 and scored["n"] == len(test) == plain["n"]
    assert scored["accuracy"] == pytest.approx(
        float(np.mean(views["prediction"] == test["label"].to_numpy()))
    )
    # The probabilities scored are the views' mean, not the plain ones: the calibration error moves.
    assert abs(scored["ece"] - plain["ece"]) > 1e-6


def test_explain_faithfulness_adds_deletion_and_insertion_per_image(
    trained_run: Path, tmp_path: Path
) -> None:
    images = _test_split(trained_run)["path"].tolist()[:3]
    measured = tmp_path / "faithful"
    done = medclass(
        "explain", trained_run, *images, "--method", "gradcam", "--faithfulness", "--out", measured
    )
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(measured / "explanations.csv")
    assert len(table) == len(images)
    scores = table[["deletion_auc", "insertion_auc"]]
    assert scores.notna().all().all() and scores.stack().between(0, 1).all()
    # Each image gets its own curves: a faithfulness that did not follow the maps would not differ per image.
    assert table["deletion_auc"].nunique() == len(images)
