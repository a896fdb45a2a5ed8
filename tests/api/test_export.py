"""medclass export: ONNX and TorchScript bundles decide like the checkpoint; predict accepts a bundle folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from medclass.api import predict
from medclass.api.export import export
from medclass.inference.bundle import OnnxModule
from medclass.inference.checkpoint import load_for_inference
from medclass.inference.inputs import labelled_files
from medclass.inference.runner import Predictor
from medclass.models import create_model
from medclass.runs.bundle_layout import BUNDLE_FILE, MODEL_CARD_FILE
from medclass.utils.errors import ConfigError, RunDirError


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_bundle_predicts_like_the_run_on_its_test_split(trained_run: Path, tmp_path: Path, fmt: str) -> None:
    info = export(trained_run, fmt, out=tmp_path / "bundle")
    bundle = Path(info["path"])
    assert info["check"]["images"] > 0 and info["check"]["max_abs_diff"] < 1e-4
    assert info["check"]["agreement"] == 1.0
    written = json.loads((bundle / BUNDLE_FILE).read_text())
    card = (bundle / MODEL_CARD_FILE).read_text()  # the model card travels with the bundle
    assert (
        "## Intended use" in card and "## Out-of-scope use" in card and f"{info['check']['images']}" in card
    )
    assert (
        written["classes"] and written["input"]["shape"][0] == "batch" and written["check"] == info["check"]
    )
    paths, _ = labelled_files(trained_run, Predictor.load(trained_run).meta, None, "test")
    from_run = predict(trained_run, paths)
    from_bundle = predict(bundle, paths)
    assert list(from_bundle["prediction"]) == list(from_run["prediction"])
    p_cols = [c for c in from_run.columns if c.startswith("p_")]
    np.testing.assert_allclose(from_bundle[p_cols].to_numpy(), from_run[p_cols].to_numpy(), atol=1e-4)
    # The run's model has dropout (MC dropout works from the run), but an export fixes it off: refused.
    assert predict(trained_run, paths[:2], mc_dropout=2).attrs["dropout_layers"] > 0
    with pytest.raises(ConfigError, match="cannot switch its dropout on; use the run's checkpoint"):
        predict(bundle, paths[:2], mc_dropout=2)


def test_onnx_metadata_and_dynamic_batch(trained_run: Path, tmp_path: Path) -> None:
    import onnx

    bundle = Path(export(trained_run, "onnx", out=tmp_path / "b")["path"])
    props = {p.key: p.value for p in onnx.load(str(bundle / "model.onnx")).metadata_props}
    assert json.loads(props["classes"]) == json.loads((bundle / BUNDLE_FILE).read_text())["classes"]
    _, meta = load_for_inference(trained_run)
    size = meta.preprocess.image_size
    module = OnnxModule(bundle / "model.onnx")
    for batch in (1, 5):
        assert module(torch.zeros(batch, meta.preprocess.channels, size, size)).shape[0] == batch


def test_quantized_bundle_reports_the_accuracy_change(trained_run: Path, tmp_path: Path) -> None:
    info = export(trained_run, "onnx", out=tmp_path / "q", quantize="dynamic")
    check = info["check"]
    assert info["quantize"] == "dynamic" and 0.0 <= check["accuracy_bundle"] <= 1.0
    assert check["accuracy_torch"] is not None


def test_existing_bundle_folder_is_not_overwritten(trained_run: Path, tmp_path: Path) -> None:
    export(trained_run, "onnx", out=tmp_path / "b")
    with pytest.raises(RunDirError):
        export(trained_run, "onnx", out=tmp_path / "b")
    export(trained_run, "onnx", out=tmp_path / "b", overwrite=True)


ARCHITECTURES = [
    ("resnet18", {}),
    ("efficientnet_b0", {}),
    ("densenet121", {}),
    ("cnn", {}),
    ("timm:vit_tiny_patch16_224", {"img_size": 32, "patch_size": 8}),
]


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize(
    ("name", "kwargs"), ARCHITECTURES, ids=[a[0].removeprefix("timm:") for a in ARCHITECTURES]
)
def test_exported_architectures_match_pytorch(name: str, kwargs: dict, fmt: str, tmp_path: Path) -> None:
    from medclass.serving.export import write_onnx

    torch.manual_seed(0)
    model = create_model(name=name, num_classes=4, in_chans=3, image_size=32, **kwargs).eval()
    inputs = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = torch.softmax(model(inputs), 1).numpy()
        if fmt == "onnx":
            write_onnx(model, inputs[:2], tmp_path / "m.onnx", 17, {"classes": ["a", "b", "c", "d"]})
            got = OnnxModule(tmp_path / "m.onnx")(inputs)
        else:
            torch.jit.save(torch.jit.trace(model, inputs[:2]), str(tmp_path / "m.pt"))
            got = torch.jit.load(str(tmp_path / "m.pt"))(inputs)
    assert np.abs(torch.softmax(got, 1).numpy() - expected).max() < 1e-4
