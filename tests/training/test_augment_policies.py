"""The issue-13 augmentation levers: TrivialAugmentWide / RandAugment per image, MixUp / CutMix per batch."""

from __future__ import annotations

import pytest
import torch

from medclass.config import build_config
from medclass.config.schema import AugmentConfig
from medclass.transforms.pipelines import TrainTransform, batch_mixer, describe_augment, eval_safe_augment
from medclass.utils.errors import ConfigError


@pytest.mark.parametrize("policy", ["trivialaugment", "randaugment"])
@pytest.mark.parametrize("channels", [1, 3])
def test_a_policy_changes_pixels_and_keeps_shape_and_range(policy: str, channels: int) -> None:
    augment = AugmentConfig(preset="none", auto=policy)
    transform = TrainTransform(augment, 24, [0.5] * channels, [0.5] * channels)
    plain = TrainTransform(AugmentConfig(preset="none"), 24, [0.5] * channels, [0.5] * channels)
    image = torch.randint(0, 256, (channels, 24, 24), dtype=torch.uint8)
    torch.manual_seed(0)
    views = [transform(image) for _ in range(8)]
    assert all(v.shape == (channels, 24, 24) and v.dtype == torch.float32 for v in views)
    assert all(v.min() >= -1 and v.max() <= 1 for v in views)  # (0-1 pixels - 0.5) / 0.5
    assert sum(not torch.equal(v, plain(image)) for v in views) >= 4  # some ops (identity) may leave it
    assert policy in describe_augment(augment)


def test_policies_and_mixing_are_training_only() -> None:
    augment = AugmentConfig(auto="trivialaugment", mixup=0.2, cutmix=1.0)
    safe = eval_safe_augment(augment)
    assert (safe.auto, safe.mixup, safe.cutmix) == ("none", 0.0, 0.0)


def test_no_mixer_when_both_alphas_are_zero() -> None:
    assert batch_mixer(AugmentConfig(), 4) is None


@pytest.mark.parametrize(("mixup", "cutmix"), [(0.4, 0.0), (0.0, 1.0), (0.4, 1.0)])
def test_a_mixer_blends_labels_into_probabilities(mixup: float, cutmix: float) -> None:
    mixer = batch_mixer(AugmentConfig(mixup=mixup, cutmix=cutmix), 3)
    images = torch.rand(6, 1, 16, 16)
    targets = torch.tensor([0, 1, 2, 0, 1, 2])
    torch.manual_seed(1)
    mixed, soft = mixer(images, targets)
    assert mixed.shape == images.shape and soft.shape == (6, 3)
    torch.testing.assert_close(soft.sum(dim=1), torch.ones(6))
    assert (soft.max(dim=1).values < 1).any()  # labels are blended, not one-hot
    assert f"{'mixup' if mixup else 'cutmix'} alpha" in describe_augment(
        AugmentConfig(mixup=mixup, cutmix=cutmix)
    )


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("augment.auto=autoaugment", "augment.auto"),
        ("augment.mixup=-1", "augment.mixup"),
        ("trainer.ema_decay=1", "trainer.ema_decay"),
    ],
)
def test_bad_lever_values_name_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        build_config({}, [override])
