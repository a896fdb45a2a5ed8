"""Every explanation method on CNNs, ViTs and one-logit heads; hooks released; the explain API's files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

from medclass.api.explain import explain, explain_files
from medclass.explain import (
    METHODS,
    colorbar_label,
    compute_cam,
    folder_label,
    overlay_title,
    resolve_target_layer,
)
from medclass.explain.methods import default_method, explanation_maps, plan_explanation
from medclass.explain.outputs import default_out_dir, output_stems
from medclass.explain.overlay import CAM_COLORBAR_LABEL
from medclass.explain.targets import TargetLayer
from medclass.explain.web import explanation_pngs, heat_rgba, png_base64, unit_maps
from medclass.inference.checkpoint import load_for_inference
from medclass.inference.inputs import load_images
from medclass.inference.runner import Predictor
from medclass.inference.spec import ModelSpec
from medclass.models import create_model
from medclass.utils.errors import ConfigError, RunDirError

SMALL_CNN = {"blocks": [{"out_channels": 4}, {"out_channels": 8}], "dense": [8]}
TINY_TRANSFORMERS = {
    "timm:vit_tiny_patch16_224": {"patch_size": 8, "depth": 2, "embed_dim": 32, "num_heads": 2},
    "timm:deit_tiny_distilled_patch16_224": {"patch_size": 8, "depth": 2, "embed_dim": 32, "num_heads": 2},
    "timm:swin_tiny_patch4_window7_224": {
        "embed_dim": 16,
        "depths": (1, 1),
        "num_heads": (1, 2),
        "window_size": 4,
    },
}


def _hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.fixture(scope="module")
def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    return create_model("cnn", num_classes=3, in_chans=1, image_size=32, cnn=SMALL_CNN).eval()


@pytest.mark.parametrize("method", METHODS)
def test_every_method_gives_one_map_per_image_at_input_size(small_cnn: nn.Module, method: str) -> None:
    x = torch.randn(3, 1, 32, 32)
    layer = resolve_target_layer(small_cnn) if method != "feature-maps" else None
    maps, activations = explanation_maps(small_cnn, x, [0, 1, 2], method, layer)
    assert maps.shape == (3, 32, 32) and np.isfinite(maps).all()
    assert not np.allclose(maps[0], maps[0].flat[0]), "a map with structure, not a constant"
    if method.startswith(("grad", "score", "eigen")):
        assert maps.min() >= 0 and maps.max() <= 1 + 1e-6
    if method == "feature-maps":
        assert list(activations) == ["features.block1.act", "features.block2.act"]
    assert _hook_count(small_cnn) == 0


def test_hooks_and_gradient_flags_are_restored_even_when_the_cam_fails(small_cnn: nn.Module) -> None:
    small_cnn.classifier.weight.requires_grad_(True)
    small_cnn.features.block1.conv.weight.requires_grad_(False)

    def broken(output: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("reshape failed")

    layer = TargetLayer("features.block2.act", small_cnn.features.block2.act, broken)
    with pytest.raises(RuntimeError, match="reshape failed"):
        compute_cam(small_cnn, torch.randn(2, 1, 32, 32), [0, 1], "gradcam", layer)
    assert _hook_count(small_cnn) == 0
    assert small_cnn.classifier.weight.requires_grad
    assert not small_cnn.features.block1.conv.weight.requires_grad
    small_cnn.features.block1.conv.weight.requires_grad_(True)


def test_bad_target_is_refused(small_cnn: nn.Module) -> None:
    with pytest.raises(ValueError, match="target class index 3 out of range for a model with 3 classes"):
        compute_cam(small_cnn, torch.randn(1, 1, 32, 32), [3])
    with pytest.raises(ValueError, match="2 targets for 1 images"):
        compute_cam(small_cnn, torch.randn(1, 1, 32, 32), [0, 1])


@pytest.mark.parametrize("name", list(TINY_TRANSFORMERS))
@pytest.mark.parametrize("method", ["gradcam", "scorecam", "saliency"])
def test_transformers_give_maps_of_the_input_shape_without_user_code(name: str, method: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, num_classes=2, in_chans=1, image_size=32, **TINY_TRANSFORMERS[name]).eval()
    x = torch.randn(2, 1, 32, 32)
    maps, _ = explanation_maps(model, x, [1, 0], method, resolve_target_layer(model))
    assert maps.shape == (2, 32, 32) and np.isfinite(maps).all()
    assert maps.std() > 0, "the token reshape gives a spatial map, not a constant"
    assert _hook_count(model) == 0


def _one_logit_model() -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(6, 6, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, 1),
    ).eval()


def _write_images(folder: Path, n: int, size: int = 24) -> list[str]:
    rng = np.random.default_rng(5)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"scan{i}.png"
        Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def _meta(classes: list[str], image_size: int = 32) -> ModelSpec:
    return ModelSpec(
        model={},
        classes=classes,
        preprocess={"settings": {"image_size": image_size, "channels": 1}, "mean": [0.5], "std": [0.25]},
    )


def _inputs(files: list[str], meta: ModelSpec) -> torch.Tensor:
    images = load_images(files, meta)
    return images.tensor(range(len(images.rows)), meta)


def test_one_logit_model_explained_for_its_predicted_class(tmp_path: Path) -> None:
    model = _one_logit_model()
    files = _write_images(tmp_path / "in", 8)
    meta = _meta(["benign", "malignant"])
    with torch.no_grad():  # centre the logits on these images so that both classes are predicted
        inputs = _inputs(files, meta)
        model[-1].bias -= model(inputs)[:, 0].median() + 1e-4
    table = explain_files(model, meta, files, tmp_path / "out", method="gradcam")
    assert list(table["path"]) == files and (table["error"] == "").all()
    logits = []
    for row in table.itertuples():
        raw = np.load(tmp_path / "out" / row.map)
        assert raw.shape == (32, 32) and (tmp_path / "out" / row.overlay).stat().st_size > 0
        # The explained class is the predicted one, and the map is that class's CAM (1 = the logit, 0 = -logit).
        assert row.target == row.prediction
        single = _inputs([row.path], meta)
        with torch.no_grad():
            logit = float(model(single)[0, 0])
        logits.append(logit)
        expected_class = int(logit > 0)
        assert row.prediction == meta.classes[expected_class]
        assert row.confidence == pytest.approx(1 / (1 + np.exp(-abs(logit))), rel=1e-5)
        np.testing.assert_allclose(raw, compute_cam(model, single, [expected_class])[0], atol=1e-6)
    assert min(logits) < 0 < max(logits), "both classes were exercised"


def test_one_logit_model_needs_two_class_names(tmp_path: Path) -> None:
    files = _write_images(tmp_path / "in", 1)
    with pytest.raises(ConfigError, match="1 output.*a one-logit model needs two names"):
        explain_files(_one_logit_model(), _meta(["tumour"]), files, tmp_path / "out")


def test_output_stems_keep_names_and_number_repeats() -> None:
    assert output_stems(["a/1.png", "b/1.png", "c/x.nii.gz", "d/1.jpg"]) == ["1", "1_2", "x", "1_3"]


@pytest.fixture(scope="module")
def run(phantom_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from api.conftest import make_fast_config

    from medclass.api import train

    out = tmp_path_factory.mktemp("explain") / "run"
    train(make_fast_config(phantom_data, out, ["evaluation.report=false"]))
    return out


def test_explain_writes_overlay_map_and_index_per_image(
    run: Path, phantom_data: Path, tmp_path: Path
) -> None:
    inputs = tmp_path / "inputs"
    (inputs / "a").mkdir(parents=True)
    (inputs / "b").mkdir()
    source = sorted((phantom_data / "tumor").glob("*.png"))[:2]
    for sub in ("a", "b"):  # the same file name in two folders
        (inputs / sub / "case.png").write_bytes(source[0].read_bytes())
    (inputs / "a" / "other.png").write_bytes(source[1].read_bytes())
    (inputs / "a" / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    table = explain(run, [inputs], method="gradcam++", target="tumor", out=out)
    saved = pd.read_csv(out / "explanations.csv", keep_default_na=False)
    assert list(saved["path"]) == list(table["path"])
    ok = saved[saved["error"] == ""]
    assert sorted(ok["overlay"]) == ["case.png", "case_2.png", "other.png"]
    assert set(ok["target"]) == {"tumor"} and set(ok["layer"]) == {"features.block2.act"}
    for row in ok.itertuples():
        assert np.load(out / row.map).shape == (32, 32)
        assert (out / row.overlay).is_file()
    bad = saved[saved["error"] != ""]
    assert list(bad["path"]) == [str(inputs / "a" / "broken.png")] and bad["overlay"].iloc[0] == ""
    # Identical inputs give identical maps.
    np.testing.assert_array_equal(np.load(out / "case.npy"), np.load(out / "case_2.npy"))


def test_feature_maps_writes_the_layer_grid_too(run: Path, phantom_data: Path, tmp_path: Path) -> None:
    image = sorted((phantom_data / "no_tumor").glob("*.png"))[0]
    table = explain(run, [image], method="feature-maps", out=tmp_path / "fm")
    assert table["layer"].iloc[0] == "stages"
    assert (tmp_path / "fm" / f"{image.stem}_layers.png").is_file()
    assert np.load(tmp_path / "fm" / f"{image.stem}.npy").shape == (32, 32)


def test_explain_refuses_folders_it_could_damage(run: Path, phantom_data: Path, tmp_path: Path) -> None:
    image = sorted((phantom_data / "tumor").glob("*.png"))[0]
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(RunDirError, match="not empty and is not a medclass explanations folder"):
        explain(run, [image], out=foreign)
    assert (foreign / "keep.txt").read_text() == "mine"
    with pytest.raises(RunDirError, match="holds input image"):
        explain(run, [image], out=image.parent)
    # An explanations folder may be reused, but not when an input lies in it (its overlay could replace it).
    done = tmp_path / "done"
    explain(run, [image], out=done)
    (done / "scan.png").write_bytes(image.read_bytes())
    with pytest.raises(RunDirError, match="holds input image"):
        explain(run, [done / "scan.png"], out=done)
    assert (done / "scan.png").read_bytes() == image.read_bytes()
    with pytest.raises(ConfigError, match="--target 'cat'.*0=no_tumor, 1=tumor"):
        explain(run, [image], target="cat", out=tmp_path / "x")
    with pytest.raises(ConfigError, match="--method 'lime'"):
        explain(run, [image], method="lime", out=tmp_path / "y")
    model, _ = load_for_inference(run)
    assert _hook_count(model) == 0


def test_default_folder_is_the_run_folder_and_faithfulness_adds_two_columns(
    run: Path, phantom_data: Path, tmp_path: Path
) -> None:
    images = sorted((phantom_data / "tumor").glob("*.png"))[:2]
    table = explain(run, images, method="hirescam", faithfulness=True)
    out = run / "explanations" / "hirescam"
    saved = pd.read_csv(out / "explanations.csv")
    assert list(saved.columns[-2:]) == ["deletion_auc", "insertion_auc"] and len(saved) == 2
    assert saved[["deletion_auc", "insertion_auc"]].notna().all().all()
    assert table["deletion_auc"].between(0, 1).all()
    assert (
        default_out_dir(run / "checkpoints" / "best.ckpt", "occlusion") == run / "explanations" / "occlusion"
    )
    assert default_out_dir(tmp_path / "model.ckpt", "saliency") == tmp_path / "explanations" / "saliency"
    plain = explain(run, images[:1], method="occlusion", out=tmp_path / "occ")
    assert "deletion_auc" not in plain.columns


def test_overlay_title_names_the_file_and_the_true_label() -> None:
    classes = ["no_tumor", "tumor"]
    assert folder_label("data/tumor/case7.png", classes) == "tumor"
    assert folder_label("scans/case7.png", classes) is None
    title = overlay_title("data/tumor/case7.png", "no_tumor", 0.8, "tumor", "tumor")
    assert title == "case7.png: predicted no_tumor (80.0%), true tumor, explaining tumor"
    assert overlay_title("x/a.png", "tumor", 0.91) == "a.png: predicted tumor (91.0%)"
    assert colorbar_label("gradcam") == colorbar_label("layercam") == CAM_COLORBAR_LABEL
    assert "red raises" in colorbar_label("integrated-gradients")


def test_the_serve_page_draws_the_default_explanation(small_cnn: nn.Module, tmp_path: Path) -> None:
    files = _write_images(tmp_path, 3)
    meta = _meta(["a", "b", "c"])
    predictor = Predictor(small_cnn, meta)
    pairs = explanation_pngs(predictor, files, [0, 1, 2])
    inputs = _inputs(files, meta)
    for method, same in ((default_method(small_cnn), True), ("layercam", False)):
        plan = plan_explanation(small_cnn, meta, method, None, None)
        maps = unit_maps(explanation_maps(small_cnn, inputs, [0, 1, 2], method, plan.layer)[0])
        heats = [png_base64(heat_rgba(m)) for m in maps]
        assert ([heat for _, heat in pairs] == heats) is same, (
            method
        )  # Grad-CAM for the custom CNN, not LayerCAM
