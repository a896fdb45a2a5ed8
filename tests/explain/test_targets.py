"""Target layers of every registry model, transformer reshapes derived from the model, target semantics."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from torch import nn

from medclass.explain import compute_attribution, resolve_target_layer, target_scores
from medclass.explain.targets import (
    MIN_CAM_GRID,
    ChannelsLastToFirst,
    TokensToGrid,
    cam_candidate_layers,
    feature_grids,
    last_stage_layer,
    layer_by_resolution,
    stage_layers,
)
from medclass.models import available_models, create_model

SMALL_CNN = {"blocks": [{"out_channels": 4}, {"out_channels": 8}], "dense": [8]}
TINY_VIT = {"patch_size": 8, "depth": 2, "embed_dim": 32, "num_heads": 2}
TINY_SWIN = {"embed_dim": 16, "depths": (1, 1), "num_heads": (1, 2), "window_size": 4}

EXPECTED_LAYER = {
    "cnn": "features.block4.act",
    "resnet18": "layer4",
    "resnet50": "layer4",
    "vgg11": "features.19",
    "vgg16_bn": "features.42",
    "densenet121": "features.norm5",
    "efficientnet_b0": "features.8",
    "mobilenet_v3_small": "features.12",
}


def _output_of(model: nn.Module, name: str, x: torch.Tensor) -> torch.Tensor:
    captured = {}
    handle = model.get_submodule(name).register_forward_hook(
        lambda m, a, out: captured.setdefault("out", out)
    )
    try:
        model.eval()(x)
    finally:
        handle.remove()
    return captured["out"]


@pytest.mark.parametrize("name", available_models())
def test_every_registry_model_gets_its_last_conv_stage(name: str) -> None:
    # Built on the meta device: shapes propagate without allocating the weights of the large models.
    with torch.device("meta"):
        model = create_model(name, num_classes=3, in_chans=1, image_size=128)
        target = resolve_target_layer(model)
        if name in EXPECTED_LAYER:
            assert target.name == EXPECTED_LAYER[name]
        output = target.to_nchw(_output_of(model, target.name, torch.zeros(1, 1, 128, 128)))
    assert output.ndim == 4 and output.shape[0] == 1
    assert 1 < output.shape[-1] < 128, "a spatial map, coarser than the input"


def test_custom_cnn_target_is_before_the_last_pooling() -> None:
    model = create_model("cnn", num_classes=2, in_chans=1, image_size=32, cnn=SMALL_CNN)
    assert stage_layers(model) == ["features.block1.act", "features.block2.act"]
    output = _output_of(model, resolve_target_layer(model).name, torch.zeros(1, 1, 32, 32))
    assert output.shape == (1, 8, 16, 16)  # block 2 before its pool: 32 -> 16 (block 1 pool) -> 16


@pytest.mark.parametrize(
    ("name", "prefix"),
    [("timm:vit_tiny_patch16_224", 1), ("timm:deit_tiny_distilled_patch16_224", 2)],
)
def test_vit_tokens_reshape_to_the_patch_grid(name: str, prefix: int) -> None:
    model = create_model(name, num_classes=2, in_chans=1, image_size=32, **TINY_VIT)
    target = resolve_target_layer(model)
    assert target.name == "blocks.1.norm1"
    assert isinstance(target.reshape, TokensToGrid)
    assert (target.reshape.prefix, target.reshape.grid) == (prefix, (4, 4))
    tokens = _output_of(model, target.name, torch.zeros(2, 1, 32, 32))
    assert tokens.shape == (2, prefix + 16, 32)
    grid = target.to_nchw(tokens)
    assert grid.shape == (2, 32, 4, 4)
    # Patch token (row 1, col 2) lands at grid position (1, 2): row-major, prefix dropped.
    assert torch.equal(grid[:, :, 1, 2], tokens[:, prefix + 1 * 4 + 2, :])


def test_swin_nhwc_maps_are_permuted() -> None:
    model = create_model(
        "timm:swin_tiny_patch4_window7_224", num_classes=2, in_chans=1, image_size=32, **TINY_SWIN
    )
    target = resolve_target_layer(model)
    assert target.name == "layers.1" and isinstance(target.reshape, ChannelsLastToFirst)
    nhwc = _output_of(model, target.name, torch.zeros(1, 1, 32, 32))
    assert nhwc.shape == (1, 4, 4, 32)
    assert target.to_nchw(nhwc).shape == (1, 32, 4, 4)


def test_timm_cnn_uses_its_feature_info() -> None:
    with torch.device("meta"):
        model = create_model("timm:resnet18", num_classes=2, in_chans=1)
    assert resolve_target_layer(model).name == "layer4"
    assert resolve_target_layer(model).reshape is None


def test_layer_override_and_a_clear_error_for_a_wrong_name() -> None:
    model = create_model("cnn", num_classes=2, in_chans=1, image_size=32, cnn=SMALL_CNN)
    assert resolve_target_layer(model, "features.block1.conv").name == "features.block1.conv"
    with pytest.raises(ValueError, match=r"features\.block9\.act.*close names: features\.block2\.act"):
        resolve_target_layer(model, "features.block9.act")


def test_target_scores_per_head() -> None:
    z = torch.tensor([[2.0], [-1.0]])
    assert torch.equal(target_scores(z), torch.tensor([[-2.0, 2.0], [1.0, -1.0]]))
    two = torch.tensor([[0.5, 2.0]])
    assert torch.equal(target_scores(two), torch.tensor([[-1.5, 1.5]]))
    many = torch.randn(3, 4)
    assert torch.equal(target_scores(many), many)


def _one_logit_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 1)
    ).eval()


def test_one_logit_negative_class_is_the_negated_logit() -> None:
    model = _one_logit_model()
    x = torch.randn(2, 1, 16, 16)
    positive = compute_attribution(model, x, [1, 1], "integrated-gradients")
    negative = compute_attribution(model, x, [0, 0], "integrated-gradients")
    np.testing.assert_allclose(negative, -positive, rtol=1e-5, atol=1e-7)
    # Completeness: the attributions add up to the logit difference from the (zero) baseline.
    with torch.no_grad():
        gap = (model(x) - model(torch.zeros_like(x)))[:, 0].numpy()
    np.testing.assert_allclose(positive.sum(axis=(1, 2)), gap, rtol=0.02, atol=1e-4)


def test_two_logit_target_is_the_margin_like_a_one_logit_model() -> None:
    torch.manual_seed(1)
    two = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)
    ).eval()
    head = two[-1]
    one = nn.Sequential(*list(two)[:-1], nn.Linear(4, 1)).eval()
    with torch.no_grad():  # the one-logit model computes z1 - z0 of the two-logit one
        one[-1].weight.copy_(head.weight[1:] - head.weight[:1])
        one[-1].bias.copy_(head.bias[1:] - head.bias[:1])
    x = torch.randn(3, 1, 16, 16)
    for target in (0, 1):
        np.testing.assert_allclose(
            compute_attribution(two, x, [target] * 3, "integrated-gradients"),
            compute_attribution(one, x, [target] * 3, "integrated-gradients"),
            rtol=1e-4,
            atol=1e-6,
        )


@pytest.mark.parametrize(
    ("name", "size", "expected"),
    [
        ("resnet18", 64, "layer1"),
        ("resnet18", 128, "layer2"),
        ("resnet18", 224, "layer2"),
        ("resnet18", 512, "layer4"),
        ("efficientnet_b0", 128, "features.3"),
        ("densenet121", 224, "features.denseblock2"),
        ("cnn", 128, "features.block4.act"),
    ],
)
def test_default_cam_layer_is_the_deepest_with_a_16x16_grid(name: str, size: int, expected: str) -> None:
    with torch.device("meta"):
        model = create_model(name, num_classes=2, in_chans=1, image_size=size)
        target = resolve_target_layer(model, None, size)
        grid = feature_grids(model, cam_candidate_layers(model), (size, size))
    assert target.name == expected
    assert min(grid[expected]) >= MIN_CAM_GRID
    deeper = list(grid)[list(grid).index(expected) + 1 :]
    assert all(min(grid[name]) < MIN_CAM_GRID for name in deeper)


def test_without_an_input_size_the_family_last_stage_is_used() -> None:
    with torch.device("meta"):
        model = create_model("resnet18", num_classes=2, in_chans=1)
    assert resolve_target_layer(model).name == "layer4" == last_stage_layer(model)


def test_layer_by_resolution_falls_back_to_the_finest_grid() -> None:
    grids = {"a": (8, 8), "b": (8, 8), "c": (4, 4)}
    assert layer_by_resolution(grids) == "b", "no 16x16 grid: the deepest of the finest"
    assert layer_by_resolution({"a": (32, 32), "b": (16, 20), "c": (8, 8)}) == "b"
    with pytest.raises(ValueError, match="no layer"):
        layer_by_resolution({})


def test_a_coarse_target_grid_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with torch.device("meta"):
        model = create_model("resnet18", num_classes=2, in_chans=1, image_size=128)
    with caplog.at_level(logging.WARNING, logger="medclass.explain.targets"):
        resolve_target_layer(model, "layer4", 128)
    assert "layer4 is a 4x4 grid at 128x128 px" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="medclass.explain.targets"):
        resolve_target_layer(model, None, 128)
    assert caplog.text == ""
