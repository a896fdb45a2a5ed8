"""Weights: pretrained files from the caches (offline here), checkpoints, head skipping, grayscale conv."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from medclass.models import adapt_input_conv, create_model, load_weights, read_state_dict
from medclass.models.pretrained import hub_checkpoint_path
from medclass.utils.errors import WeightsError

RESNET18_URL = torchvision.models.ResNet18_Weights.DEFAULT.url


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection attempt fails the test: offline, pretrained weights come from the local caches only."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a test tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face hub cache, offline."""
    import huggingface_hub.constants as hf_constants

    cache = tmp_path / "hf"
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def _imagenet_resnet18() -> nn.Module:
    return torchvision.models.resnet18(weights=None)  # 1000 classes, RGB: the layout of the published file


# adapt_input_conv ---------------------------------------------------------------------------------------


def test_adapt_input_conv_sums_rgb_for_grayscale() -> None:
    weight = torch.randn(8, 3, 5, 5)
    gray = adapt_input_conv(1, weight)
    assert gray.shape == (8, 1, 5, 5)
    assert torch.allclose(gray[:, 0], weight.sum(dim=1))
    # A gray image through the summed kernel = the same image copied to R, G, B through the original kernel.
    image = torch.randn(1, 1, 12, 12)
    assert torch.allclose(
        nn.functional.conv2d(image, gray), nn.functional.conv2d(image.expand(1, 3, 12, 12), weight), atol=1e-5
    )


def test_adapt_input_conv_other_channel_counts() -> None:
    weight = torch.randn(4, 3, 3, 3)
    assert torch.equal(adapt_input_conv(3, weight), weight)
    five = adapt_input_conv(5, weight)
    assert five.shape == (4, 5, 3, 3)
    assert torch.allclose(five[:, 3:], weight[:, :2] * 3 / 5)
    # With a multiple of 3 channels the response to a constant image is kept exactly.
    assert torch.allclose(adapt_input_conv(6, weight).sum(dim=1), weight.sum(dim=1), atol=1e-6)
    assert adapt_input_conv(1, weight.half()).dtype == torch.float16
    with pytest.raises(ValueError, match="only from 3"):
        adapt_input_conv(1, torch.randn(4, 2, 3, 3))


# torchvision pretrained from the torch hub cache, offline --------------------------------------------------


def test_pretrained_missing_names_path_and_url(hub_dir: Path) -> None:
    with pytest.raises(WeightsError) as info:
        create_model("resnet18", num_classes=2, pretrained=True)
    message = str(info.value)
    expected = hub_dir / "checkpoints" / "resnet18-f37072fd.pth"
    assert str(expected) in message and RESNET18_URL in message and "cannot be fetched (offline)" in message


def test_pretrained_from_hub_cache_grayscale_new_head(
    hub_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = _imagenet_resnet18()
    path = hub_checkpoint_path(RESNET18_URL)
    path.parent.mkdir(parents=True)
    torch.save(source.state_dict(), path)
    with caplog.at_level(logging.INFO, logger="medclass.models.weights"):
        model = create_model("resnet18", num_classes=4, in_chans=1, pretrained=True, drop_rate=0.2)
    assert torch.allclose(model.conv1.weight, source.conv1.weight.sum(dim=1, keepdim=True))
    assert torch.equal(model.layer3[1].conv2.weight, source.layer3[1].conv2.weight)
    assert torch.equal(model.bn1.running_var, source.bn1.running_var)
    assert model.fc.weight.shape == (4, 512)
    assert "classifier head fc not loaded" in caplog.text and "(1000, 512)" in caplog.text


def test_pretrained_same_head_loads_everything(hub_dir: Path) -> None:
    source = _imagenet_resnet18()
    path = hub_checkpoint_path(RESNET18_URL)
    path.parent.mkdir(parents=True)
    torch.save(source.state_dict(), path)
    model = create_model("resnet18", num_classes=1000, in_chans=3, pretrained=True).eval()
    x = torch.randn(1, 3, 32, 32)
    assert torch.allclose(model(x), source.eval()(x), atol=1e-5)


# weights=PATH --------------------------------------------------------------------------------------------


def test_weights_from_a_lightning_checkpoint(tmp_path: Path) -> None:
    trained = create_model("resnet18", num_classes=3, in_chans=1, drop_rate=0.5)
    checkpoint = {
        "epoch": 4,
        "pytorch-lightning_version": "2.5.0",
        "state_dict": {
            **{f"model.{k}": v for k, v in trained.state_dict().items()},
            "criterion.weight": torch.ones(3),  # a loss buffer of the LightningModule, not the network
        },
        "medclass": {"model": {"name": "resnet18"}, "classes": ["a", "b", "c"]},
    }
    path = tmp_path / "best.ckpt"
    torch.save(checkpoint, path)
    model = create_model("resnet18", num_classes=3, in_chans=1, weights=path).eval()
    x = torch.randn(1, 1, 32, 32)
    assert torch.equal(model(x), trained.eval()(x))


def test_weights_from_reference_script_dict_and_sequential_head(tmp_path: Path) -> None:
    """torchvision's train.py saves {"model": state_dict}; a user's ResNet50-with-dropout had fc = Sequential."""
    source = create_model("resnet18", num_classes=2, in_chans=3)
    state = {k.replace("fc.", "fc.1."): v for k, v in source.state_dict().items()}
    path = tmp_path / "epoch17.pt"
    torch.save({"model": state, "optimizer": {}, "epoch": 17}, path)
    model = create_model("resnet18", num_classes=2, in_chans=3, weights=path)
    assert torch.equal(model.fc.weight, source.fc.weight)


def test_weights_from_safetensors(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    source = create_model("mobilenet_v3_small", num_classes=2, in_chans=1)
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    assert read_state_dict(path).keys() == source.state_dict().keys()
    model = create_model("mobilenet_v3_small", num_classes=2, in_chans=1, weights=path)
    assert torch.equal(model.classifier[3].weight, source.classifier[3].weight)


def test_weights_of_another_architecture_list_offending_keys(tmp_path: Path) -> None:
    path = tmp_path / "resnet34.pth"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), path)
    with pytest.raises(WeightsError) as info:
        create_model("resnet18", num_classes=2, in_chans=3, weights=path)
    message = str(info.value)
    assert "not in the model" in message and "layer1.2.conv1.weight" in message and "more" in message


def test_weights_with_mis_shaped_body_is_an_error() -> None:
    model = create_model("cnn", num_classes=2, cnn={"blocks": [{"out_channels": 4}], "dense": [8]})
    state = create_model(
        "cnn", num_classes=2, cnn={"blocks": [{"out_channels": 6}], "dense": [8]}
    ).state_dict()
    with pytest.raises(WeightsError, match=r"shape differs: features\.block1\.conv\.weight"):
        load_weights(model, state)


def test_missing_and_unreadable_weight_files(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="not found"):
        create_model("resnet18", num_classes=2, weights=tmp_path / "nope.pth")
    bad = tmp_path / "bad.pth"
    bad.write_text("not a checkpoint")
    with pytest.raises(WeightsError, match="cannot be read"):
        create_model("resnet18", num_classes=2, weights=bad)
    empty = tmp_path / "empty.pth"
    torch.save({"epoch": 3}, empty)
    with pytest.raises(WeightsError, match="no state dict"):
        create_model("resnet18", num_classes=2, weights=empty)


# timm: local files only ------------------------------------------------------------------------------------


def test_timm_pretrained_missing_is_a_clear_error(hub_dir: Path, hf_cache: Path) -> None:
    with pytest.raises(WeightsError) as info:
        create_model("timm:resnet10t", num_classes=2, pretrained=True)
    message = str(info.value)
    assert "cannot be fetched (offline)" in message and str(hf_cache) in message and str(hub_dir) in message


def test_timm_pretrained_from_a_local_file(hub_dir: Path, hf_cache: Path) -> None:
    import timm

    source = timm.create_model("resnet10t", num_classes=1000, in_chans=3)
    url = timm.models.get_pretrained_cfg("resnet10t").url
    path = hub_checkpoint_path(url)
    path.parent.mkdir(parents=True)
    torch.save(source.state_dict(), path)
    model = create_model("timm:resnet10t", num_classes=2, in_chans=1, pretrained=True)
    assert torch.allclose(model.conv1[0].weight, source.conv1[0].weight.sum(dim=1, keepdim=True), atol=1e-6)
    assert torch.equal(model.layer2[0].conv1.weight, source.layer2[0].conv1.weight)
    # The same file through pretrained_cfg_overlay, and through weights=PATH (medclass's own loader).
    explicit = create_model(
        "timm:resnet10t",
        num_classes=2,
        in_chans=3,
        pretrained=True,
        pretrained_cfg_overlay={"file": str(path)},
    )
    assert torch.equal(explicit.conv1[0].weight, source.conv1[0].weight)
    loaded = create_model("timm:resnet10t", num_classes=2, in_chans=1, weights=path)
    assert torch.allclose(loaded.conv1[0].weight, model.conv1[0].weight)
