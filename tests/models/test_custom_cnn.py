"""The custom CNN: the example configs reproduce the seed README's models layer by layer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from medclass.config import load_config
from medclass.config.schema import CNNConfig
from medclass.models import (
    CustomCNN,
    create_model,
    create_model_from_config,
    freeze_backbone,
    get_classifier,
    model_args,
)
from medclass.models.custom_cnn import feature_map_size
from medclass.utils.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "models"

# Per-layer parameter counts of seeds/brain-mri-4-class-custom-cnn.md (256 px, RGB input, 4 classes).
SEED_COUNTS = {
    "seed_cnn0.yaml": ([112, 148, 148, 148], [32800, 132], 33488),
    "seed_cnn1.yaml": ([112, 296, 1168, 2320], [262208, 260], 266364),
    "seed_cnn2.yaml": ([112, 296, 1168, 4640, 9248], [131136, 260], 146860),
    "seed_cnn3.yaml": ([896, 18496, 73856, 295168, 590080], [8389120, 2052], 9369668),
}


def _numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _build(path: Path, num_classes: int) -> tuple[nn.Module, int, int]:
    cfg = load_config(path)
    return create_model_from_config(cfg, num_classes=num_classes), cfg.data.channels, cfg.data.image_size


@pytest.mark.parametrize("example", sorted(SEED_COUNTS))
def test_seed_models_match_the_readme_parameter_counts(example: str) -> None:
    convs, fcs, total = SEED_COUNTS[example]
    model, in_chans, image_size = _build(EXAMPLES / example, num_classes=4)
    assert (in_chans, image_size) == (3, 256)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert [_numel(block.conv) for block in model.features] == convs
    assert [_numel(m) for m in model.dense if isinstance(m, nn.Linear)] + [_numel(model.classifier)] == fcs
    assert _numel(model) == total


def test_seed_cnn0_forward_at_256_px() -> None:
    model, in_chans, image_size = _build(EXAMPLES / "seed_cnn0.yaml", num_classes=4)
    out = model(torch.randn(2, in_chans, image_size, image_size))
    assert out.shape == (2, 4) and torch.isfinite(out).all()
    assert model.dense.fc1.in_features == 1024


@pytest.mark.parametrize("example", ["wide_cnn.yaml", "deep_cnn.yaml", "pyramid_cnn.yaml"])
def test_search_architectures(example: str) -> None:
    model, in_chans, image_size = _build(EXAMPLES / example, num_classes=2)
    n_blocks = len(model.features)
    assert n_blocks == (1 if example == "wide_cnn.yaml" else 3)
    widths = [block.conv.out_channels for block in model.features]
    if example == "deep_cnn.yaml":
        assert widths == sorted(widths) and widths[0] < widths[-1]
    if example == "pyramid_cnn.yaml":
        assert widths == sorted(widths, reverse=True) and widths[0] > widths[-1]
    x = torch.randn(2, in_chans, image_size, image_size, requires_grad=False)
    out = model(x)
    assert out.shape == (2, 2) and torch.isfinite(out).all()
    out.sum().backward()


def test_every_example_is_a_valid_config() -> None:
    files = sorted(EXAMPLES.glob("*.yaml"))
    assert len(files) >= 7
    for path in files:
        cfg = load_config(path)
        assert cfg.model.name == "cnn"


@pytest.mark.parametrize("in_chans", [1, 3])
def test_default_cnn_trains(in_chans: int) -> None:
    model = create_model("cnn", num_classes=3, in_chans=in_chans, drop_rate=0.2)
    out = model(torch.randn(2, in_chans, 32, 32))
    assert out.shape == (2, 3) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    assert get_classifier(model) is model.classifier
    assert model.classifier.drop.p == pytest.approx(0.2)
    # Default blocks use batch-norm, so their convs have no bias.
    assert model.features.block1.conv.bias is None


def test_freeze_backbone_leaves_only_the_output_layer() -> None:
    model = create_model("cnn", num_classes=2, cnn={"blocks": [{"out_channels": 4}], "dense": [8]})
    freeze_backbone(model)
    assert [n for n, p in model.named_parameters() if p.requires_grad] == [
        "classifier.weight",
        "classifier.bias",
    ]


def test_flatten_needs_image_size() -> None:
    with pytest.raises(ConfigError, match="image_size"):
        create_model("cnn", num_classes=2, cnn={"head": "flatten"})


def test_too_small_image_names_the_block() -> None:
    cnn = {"blocks": [{"out_channels": 4}] * 6, "head": "flatten"}
    with pytest.raises(ConfigError, match="block 6"):
        create_model("cnn", num_classes=2, cnn=cnn, image_size=32)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize(
    "block",
    [
        {
            "out_channels": 3,
            "kernel": 3,
            "stride": 2,
            "padding": "same",
            "pool": "avg",
            "pool_kernel": 3,
            "pool_stride": 2,
        },
        {"out_channels": 3, "kernel": 4, "padding": "same", "pool": "none", "activation": "gelu"},
        {"out_channels": 3, "kernel": 5, "padding": 0, "pool": "max", "pool_kernel": 3, "activation": "elu"},
        {
            "out_channels": 3,
            "kernel": 2,
            "stride": 2,
            "padding": "same",
            "activation": "leaky_relu",
            "batch_norm": False,
            "dropout": 0.5,
        },
    ],
)
def test_flatten_width_arithmetic_matches_a_forward_pass(block: dict) -> None:
    cfg = CNNConfig(blocks=[block, block], head="flatten", dense=[], dense_dropout=0.0)
    for size in (31, 40):
        model = CustomCNN(cfg, num_classes=2, in_chans=1, image_size=size)
        side = feature_map_size(cfg.blocks, size)
        assert model.forward_features(torch.zeros(1, 1, size, size)).shape[-2:] == (side, side)
        assert model(torch.zeros(2, 1, size, size)).shape == (2, 2)


def test_cnn_args_are_recorded_for_rebuilding() -> None:
    cnn = {"blocks": [{"out_channels": 4, "batch_norm": False}], "head": "flatten", "dense": [8]}
    model = create_model("cnn", num_classes=2, in_chans=1, cnn=cnn, image_size=16)
    args = model_args(model)
    assert args["cnn"]["blocks"][0]["out_channels"] == 4 and args["image_size"] == 16
    rebuilt = create_model(**args)
    rebuilt.load_state_dict(model.state_dict())


def test_cnn_rejects_unknown_kwargs_and_pretrained() -> None:
    with pytest.raises(ConfigError, match="no extra arguments"):
        create_model("cnn", num_classes=2, depth=3)
    from medclass.utils.errors import WeightsError

    with pytest.raises(WeightsError, match="no published weights"):
        create_model("cnn", num_classes=2, pretrained=True)
