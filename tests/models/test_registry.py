"""Registry and factory: every registered torchvision model and a few timm ones build, run and train."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from medclass.config import build_config
from medclass.models import (
    DropoutLinear,
    available_models,
    classifier_name,
    create_model,
    create_model_from_config,
    freeze_backbone,
    get_classifier,
    model_args,
    register_model,
    unregister_model,
)
from medclass.models.torchvision_models import TORCHVISION_MODELS
from medclass.utils.errors import ConfigError

NUM_CLASSES = 3
# The smallest input each family runs at (VGG's five 2x2 pools need >= 32 px); 32 px suits all of them.
SIZE = 32
TIMM_MODELS = ("timm:vit_tiny_patch16_224", "timm:convnext_nano", "timm:resnet10t")


def _step(model: nn.Module, in_chans: int) -> torch.Tensor:
    """One training step's forward and backward on a batch of 2; returns the logits."""
    model.train()
    logits = model(torch.randn(2, in_chans, SIZE, SIZE))
    assert logits.shape == (2, NUM_CLASSES)
    assert torch.isfinite(logits).all()
    nn.functional.cross_entropy(logits, torch.tensor([0, NUM_CLASSES - 1])).backward()
    return logits


def _module_before_head(model: nn.Module, in_chans: int) -> nn.Module:
    """The module whose forward finished last before the classifier head's did (forward-hook order)."""
    order: list[nn.Module] = []
    hooks = [m.register_forward_hook(lambda mod, i, o: order.append(mod)) for m in model.modules()]
    try:
        with torch.no_grad():
            model.eval()(torch.randn(1, in_chans, SIZE, SIZE))
    finally:
        for h in hooks:
            h.remove()
    head = get_classifier(model)
    return order[order.index(head) - 1]


def test_available_models_lists_the_registry_not_timm() -> None:
    names = available_models()
    assert names == sorted(names)
    assert set(TORCHVISION_MODELS) | {"cnn"} == set(names)
    assert not any(n.startswith("timm:") for n in names)


@pytest.mark.parametrize("name", TORCHVISION_MODELS)
def test_torchvision_grayscale_forward_backward_and_head_dropout(name: str) -> None:
    model = create_model(name, num_classes=NUM_CLASSES, in_chans=1, drop_rate=0.3)
    _step(model, in_chans=1)
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    # drop_rate is a Dropout directly before the final Linear (inside DropoutLinear or the torchvision one).
    before = _module_before_head(model, in_chans=1)
    assert isinstance(before, nn.Dropout) and before.p == pytest.approx(0.3)
    assert isinstance(get_classifier(model), nn.Linear)
    assert get_classifier(model).out_features == NUM_CLASSES
    assert model_args(model) == {
        "name": name,
        "num_classes": NUM_CLASSES,
        "in_chans": 1,
        "drop_rate": 0.3,
        "image_size": None,
        "cnn": None,
    }


@pytest.mark.parametrize("name", TORCHVISION_MODELS)
def test_torchvision_rgb_freeze_backbone_trains_only_the_head(name: str) -> None:
    model = create_model(name, num_classes=NUM_CLASSES, in_chans=3)
    head = get_classifier(model)
    freeze_backbone(model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {f"{classifier_name(model)}.{n}" for n, _ in head.named_parameters()}
    _step(model, in_chans=3)
    assert all(p.grad is not None for p in head.parameters())
    assert all(p.grad is None for n, p in model.named_parameters() if n not in trainable)
    # Frozen BatchNorm layers stay in eval mode through model.train() (a trainer calls it every epoch).
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(not m.training for m in bns)
    freeze_backbone(model, False)
    assert all(p.requires_grad for p in model.parameters())
    model.train()
    assert all(m.training for m in bns)


@pytest.mark.parametrize("name", TIMM_MODELS)
@pytest.mark.parametrize("in_chans", [1, 3])
def test_timm_models(name: str, in_chans: int) -> None:
    model = create_model(name, num_classes=NUM_CLASSES, in_chans=in_chans, drop_rate=0.25, image_size=SIZE)
    _step(model, in_chans)
    # timm applies drop_rate as a Dropout module before the head (ViT, ConvNeXt) or functionally (ResNet).
    drops = [m.p for m in model.modules() if isinstance(m, nn.Dropout)]
    assert 0.25 in drops or getattr(model, "drop_rate", None) == 0.25
    assert model_args(model)["image_size"] == SIZE
    freeze_backbone(model)
    head_params = {id(p) for p in get_classifier(model).parameters()}
    assert head_params and all(p.requires_grad == (id(p) in head_params) for p in model.parameters())


def test_timm_vit_takes_the_image_size() -> None:
    model = create_model("timm:vit_tiny_patch16_224", num_classes=2, in_chans=1, image_size=SIZE)
    assert model.patch_embed.img_size == (SIZE, SIZE)


def test_duplicate_registration_raises() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_model("resnet18")(lambda **kw: nn.Linear(1, 1))
    with pytest.raises(ValueError, match="timm:"):
        register_model("timm:resnet18")


def test_registered_builder_is_used_by_the_factory() -> None:
    @register_model("tiny_test_net")
    def tiny(num_classes: int, in_chans: int = 1, drop_rate: float = 0.0, **kwargs: object) -> nn.Module:
        net = nn.Sequential(
            nn.Conv2d(in_chans, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, num_classes)
        )
        net.medclass_head = "3"
        return net

    try:
        assert "tiny_test_net" in available_models()
        model = create_model("tiny_test_net", num_classes=NUM_CLASSES, in_chans=2)
        _step(model, in_chans=2)
        assert classifier_name(model) == "3"
    finally:
        unregister_model("tiny_test_net")
    assert "tiny_test_net" not in available_models()


def test_unknown_name_lists_available_models() -> None:
    with pytest.raises(ConfigError) as info:
        create_model("resnet19", num_classes=2)
    message = str(info.value)
    assert "resnet19" in message and "Did you mean" in message
    assert all(name in message for name in available_models())
    with pytest.raises(ConfigError, match="timm has no model"):
        create_model("timm:no_such_net_xyz", num_classes=2)


def test_bad_arguments_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="num_classes"):
        create_model("resnet18", num_classes=0)
    with pytest.raises(ConfigError, match="drop_rate"):
        create_model("resnet18", num_classes=2, drop_rate=1.0)


def test_drop_rate_zero_keeps_state_dict_keys() -> None:
    """A checkpoint trained with dropout loads into a model without it, and the reverse."""
    with_drop = create_model("resnet18", num_classes=2, drop_rate=0.5)
    without = create_model("resnet18", num_classes=2)
    assert isinstance(with_drop.fc, DropoutLinear)
    assert with_drop.state_dict().keys() == without.state_dict().keys()
    without.load_state_dict(with_drop.state_dict())


def test_rebuild_from_model_args() -> None:
    model = create_model("efficientnet_b0", num_classes=NUM_CLASSES, in_chans=1, drop_rate=0.2)
    rebuilt = create_model(**model_args(model))
    rebuilt.load_state_dict(model.state_dict())
    x = torch.randn(1, 1, SIZE, SIZE)
    assert torch.equal(model.eval()(x), rebuilt.eval()(x))


def test_create_model_from_config() -> None:
    cfg = build_config(
        {"data": {"channels": 1, "image_size": 64}, "model": {"name": "resnet18", "drop_rate": 0.1}}
    )
    model = create_model_from_config(cfg, num_classes=4)
    assert model.conv1.in_channels == 1
    assert model_args(model)["image_size"] == 64
    assert model.fc.drop.p == pytest.approx(0.1)
