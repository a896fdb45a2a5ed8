"""Profiling: parameter and multiply-add counts match the published figures; the table adds up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torchvision

from medclass.models import (
    count_macs,
    count_parameters,
    create_model,
    freeze_backbone,
    layer_table,
    profile_model,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "models"

# torchvision's documentation (weights tables): GFLOPS (multiply-adds) and parameters at 224 px, 1000 classes.
PUBLISHED = {
    "resnet18": (1.81, 11.7e6),
    "resnet50": (4.09, 25.6e6),
    "densenet121": (2.83, 8.0e6),
    "efficientnet_b0": (0.39, 5.3e6),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_macs_and_params_match_published_figures(name: str) -> None:
    model = create_model(name, num_classes=1000, in_chans=3)
    gmacs = count_macs(model, image_size=224, in_chans=3) / 1e9
    params = count_parameters(model)["total"]
    published_gmacs, published_params = PUBLISHED[name]
    assert gmacs == pytest.approx(published_gmacs, rel=0.05)
    assert params == pytest.approx(published_params, rel=0.05)
    # And to the unrounded figures torchvision ships with the weights.
    meta = torchvision.models.get_model_weights(name).DEFAULT.meta
    assert params == meta["num_params"]
    assert gmacs == pytest.approx(meta["_ops"], rel=0.01)


def test_layer_table_of_the_seed_cnn_reads_like_the_readme() -> None:
    cnn = {
        "blocks": [{"out_channels": 4, "padding": 1, "batch_norm": False}] * 4,
        "head": "flatten",
        "dense": [32],
        "dense_dropout": 0.3,
    }
    model = create_model("cnn", num_classes=4, in_chans=3, cnn=cnn, image_size=256)
    rows = layer_table(model, image_size=256, in_chans=3)
    assert [(r["name"], r["params"]) for r in rows] == [
        ("features.block1.conv", 112),
        ("features.block2.conv", 148),
        ("features.block3.conv", 148),
        ("features.block4.conv", 148),
        ("dense.fc1", 32800),
        ("classifier", 132),
    ]
    assert rows[0]["output_shape"] == [4, 256, 256] and rows[4]["output_shape"] == [32]
    assert sum(r["params"] for r in rows) == count_parameters(model)["total"] == 33488


def test_layer_table_adds_up_with_root_parameters() -> None:
    model = create_model("timm:vit_tiny_patch16_224", num_classes=2, in_chans=1, image_size=32)
    rows = layer_table(model, image_size=32, in_chans=1)
    assert rows[0]["name"] == "(model)" and rows[0]["params"] > 0  # cls_token, pos_embed
    assert sum(r["params"] for r in rows) == count_parameters(model)["total"]


def test_profile_model_report() -> None:
    model = create_model("resnet18", num_classes=2, in_chans=1)
    freeze_backbone(model)
    model.train()
    report = profile_model(model, image_size=32, in_chans=1, batch_sizes=(1, 2), repeats=2, warmup=1)
    assert model.training  # mode restored
    assert report["params"]["trainable"] == 512 * 2 + 2
    assert report["flops"] == 2 * report["macs"] and report["gmacs"] == report["macs"] / 1e9
    assert "FLOPs / 2" in report["convention"]
    assert [lat["batch_size"] for lat in report["latency"]] == [1, 2]
    assert all(lat["median_ms"] > 0 and lat["repeats"] == 2 for lat in report["latency"])
    assert report["device"] == "cpu" and report["threads"] >= 1
    json.dumps(report)
    assert profile_model(model, 32, 1, batch_sizes=(), layers=False)["latency"] == []


def test_profile_command_with_a_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from medclass.cli.app import run_app

    out = tmp_path / "profile.json"
    argv = [
        "profile",
        "--config",
        str(EXAMPLES / "seed_cnn3.yaml"),
        "--num-classes",
        "4",
        "--image-size",
        "64",
    ]
    assert run_app([*argv, "--json", str(out), "--batch-sizes", "1,2", "--repeats", "1"]) == 0
    report = json.loads(out.read_text())
    assert report["model"] == "cnn" and report["in_chans"] == 3 and report["image_size"] == 64
    # At 64 px the flattened map is 256 x 2 x 2, so fc1 is 1024 -> 512.
    fc1 = next(r for r in report["layers"] if r["name"] == "dense.fc1")
    assert fc1["params"] == 1024 * 512 + 512
    printed = capsys.readouterr().out
    assert "GMACs" in printed and "batch 2" in printed and "dense.fc1" in printed


def test_profile_command_through_the_cli(tmp_path: Path) -> None:
    """End to end through the application, as a user runs it."""
    from medclass.cli.app import run_app

    out = tmp_path / "p.json"
    code = run_app(
        [
            "profile",
            "--model",
            "mobilenet_v3_small",
            "--image-size",
            "32",
            "--no-latency",
            "--no-layers",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    assert json.loads(out.read_text())["params"]["total"] > 0
