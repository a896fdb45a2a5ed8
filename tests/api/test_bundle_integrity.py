"""A bundle is used only when its model file is the one its ``medclass.json`` describes (issue 22).

The tampered-bundle matrix: a model file swapped for one with another class count, another input size, or the
same shapes and other weights; an edited description; a missing model file; a model exported at another opset.
Each is refused with one line naming the file and what differs (``WeightsError``: exit 2), by the API, the CLI
and ``serve`` before it starts.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from medclass.api.serve import build_app
from medclass.cli.app import run_app
from medclass.inference.bundle import load_bundle
from medclass.inference.checkpoint import load_for_inference
from medclass.inference.inputs import labelled_files
from medclass.inference.runner import Predictor
from medclass.models import create_model
from medclass.runs.bundle_layout import BUNDLE_FILE
from medclass.serving.export import export_model, write_onnx
from medclass.utils.errors import WeightsError


@pytest.fixture(scope="session")
def bundles(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Pristine bundles of the trained run: ONNX (opset 17 and 13) and TorchScript."""
    root = tmp_path_factory.mktemp("bundles")
    made = {}
    for name, fmt, opset in (
        ("onnx", "onnx", 17),
        ("onnx13", "onnx", 13),
        ("torchscript", "torchscript", 17),
    ):
        (root / name).mkdir()
        made[name] = export_model(trained_run, fmt, root / name, opset=opset).path
    return made


def _copy(bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(bundle, tmp_path / "bundle"))


def _foreign_model(
    trained_run: Path, fmt: str, file: Path, classes: int = 0, size: int = 0, seed: int = 5
) -> None:
    """Write over ``file`` a model of another run: ``classes``/``size`` (0: the run's own) and ``seed``."""
    _, meta = load_for_inference(trained_run)
    channels, own_size = meta.preprocess.channels, meta.preprocess.image_size
    torch.manual_seed(seed)
    model = create_model(
        name="cnn", num_classes=classes or len(meta.classes), in_chans=channels, image_size=size or own_size
    ).eval()
    example = torch.randn(2, channels, size or own_size, size or own_size)
    if fmt == "onnx":
        write_onnx(
            model, example, file, 17, {"classes": [f"c{i}" for i in range(classes or len(meta.classes))]}
        )
    else:
        torch.jit.save(torch.jit.trace(model, example), str(file))


def _edit(bundle: Path, change: Callable[[dict], None]) -> None:
    info = json.loads((bundle / BUNDLE_FILE).read_text())
    change(info)
    (bundle / BUNDLE_FILE).write_text(json.dumps(info, indent=2))


SWAPS = {
    "other class count": ({"classes": 3}, "logits"),
    "other input size": ({"size": 48}, "48"),
    "same shapes, other weights": ({}, "sha256"),
}


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("swap", list(SWAPS))
def test_a_swapped_model_file_is_refused(
    trained_run: Path, bundles: dict[str, Path], tmp_path: Path, fmt: str, swap: str
) -> None:
    bundle = _copy(bundles[fmt], tmp_path)
    model_file = bundle / json.loads((bundle / BUNDLE_FILE).read_text())["model_file"]
    kwargs, named = SWAPS[swap]
    _foreign_model(trained_run, fmt, model_file, **kwargs)
    with pytest.raises(WeightsError) as refused:
        load_bundle(bundle)
    message = str(refused.value)
    assert str(model_file) in message and "sha256" in message and "\n" not in message
    # A traced module declares no input size: one of another size may still run on the stated input.
    assert named in message or (fmt == "torchscript" and named == "48")


EDITS = {
    "image_size": (lambda info: info.update(image_size=48), "image_size"),
    "spec image size": (
        lambda info: info["spec"]["preprocess"]["settings"].update(image_size=48),
        "image_size",
    ),
    "one class more": (lambda info: info.update(classes=[*info["classes"], "extra"]), "classes"),
    "classes swapped": (lambda info: info.update(classes=info["classes"][::-1]), "classes"),
    "threshold": (lambda info: info.update(threshold=0.01), "threshold"),
    "model_sha256": (lambda info: info.update(model_sha256="0" * 64), "sha256"),
}


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("edit", list(EDITS))
def test_an_edited_description_is_refused(
    bundles: dict[str, Path], tmp_path: Path, fmt: str, edit: str
) -> None:
    bundle = _copy(bundles[fmt], tmp_path)
    change, named = EDITS[edit]
    _edit(bundle, change)
    with pytest.raises(WeightsError, match=named) as refused:
        load_bundle(bundle)
    assert BUNDLE_FILE in str(refused.value) and "\n" not in str(refused.value)


def test_a_missing_model_file_is_refused(bundles: dict[str, Path], tmp_path: Path) -> None:
    bundle = _copy(bundles["onnx"], tmp_path)
    (bundle / "model.onnx").unlink()
    with pytest.raises(WeightsError, match="model.onnx: the model file named in medclass.json is missing"):
        load_bundle(bundle)


def test_a_model_file_of_another_opset_is_refused(bundles: dict[str, Path], tmp_path: Path) -> None:
    bundle = _copy(bundles["onnx"], tmp_path)
    shutil.copy(bundles["onnx13"] / "model.onnx", bundle / "model.onnx")
    with pytest.raises(WeightsError, match=r"sha256.*opset 13 in the model file, 17 in medclass.json"):
        load_bundle(bundle)


def test_the_description_carries_the_hash_and_signature(bundles: dict[str, Path]) -> None:
    import hashlib

    for name in ("onnx", "torchscript"):
        info = json.loads((bundles[name] / BUNDLE_FILE).read_text())
        model_file = bundles[name] / info["model_file"]
        assert info["model_sha256"] == hashlib.sha256(model_file.read_bytes()).hexdigest()
        size, channels = info["image_size"], info["channels"]
        assert info["input"] == {
            "name": "input",
            "shape": ["batch", channels, size, size],
            "dtype": "float32",
        }
        assert info["outputs"]["name"] == "logits" and info["outputs"]["shape"] == [
            "batch",
            len(info["classes"]),
        ]
        assert info["outputs"]["dtype"] == "float32" and "softmax" in info["outputs"]["meaning"]
        load_bundle(bundles[name])  # a pristine bundle loads


def test_an_old_bundle_without_the_hash_loads_with_a_warning(
    bundles: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bundle = _copy(bundles["onnx"], tmp_path)
    _edit(bundle, lambda info: (info.pop("model_sha256", None), info["outputs"].pop("shape", None)))
    with caplog.at_level(logging.WARNING):
        load_bundle(bundle)
    assert any("model_sha256" in r.getMessage() and str(bundle) in r.getMessage() for r in caplog.records)


def test_predict_and_serve_refuse_a_tampered_bundle(
    trained_run: Path,
    bundles: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bundle = _copy(bundles["onnx"], tmp_path)
    _foreign_model(trained_run, "onnx", bundle / "model.onnx")  # same shapes, other weights
    paths, _ = labelled_files(trained_run, Predictor.load(trained_run).meta, None, "test")
    monkeypatch.delenv("MEDCLASS_DEBUG", raising=False)
    assert run_app(["predict", str(bundle), str(paths[0])]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and str(bundle / "model.onnx") in err and "sha256" in err, err
    resized = _copy(bundles["onnx"], tmp_path / "resized")  # was an internal error (exit 3) in ONNX Runtime
    _edit(resized, lambda info: info["spec"]["preprocess"]["settings"].update(image_size=48))
    assert run_app(["predict", str(resized), str(paths[0])]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err.startswith("error: ") and "spec.preprocess.settings.image_size 48" in err and "\n" not in err
    ), err
    with pytest.raises(WeightsError, match="sha256"):
        build_app(bundle)
    served: list[object] = []
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: served.append(args))
    for workers in ("1", "2"):
        assert run_app(["serve", str(bundle), "--port", "0", "--workers", workers]) == 2
        assert "sha256" in capsys.readouterr().err and not served
