"""The train and eval transforms on uint8 ``C x H x W`` tensors (torchvision.transforms.v2).

Images arrive already decoded, cropped and resized to the model's size (see ``medclass.data.preprocess``), so the
transforms only augment and normalise. (A *preset* is a named set of augmentation settings,
``augment.preset`` in the config; :class:`TrainTransform` applies the resolved settings.) Eval is
deterministic: dtype conversion and normalisation only.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms import v2

from medclass.config.schema import AugmentConfig

# ImageNet statistics, for models whose pretrained weights expect them (``data.normalize: imagenet``).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _normalize(mean: Sequence[float], std: Sequence[float]) -> list[v2.Transform]:
    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]


class EvalTransform:
    """uint8 image -> float tensor normalised with ``mean``/``std`` (0-1 scale); no randomness."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.transforms = v2.Compose(_normalize(mean, std))

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return self.transforms(image)


class TrainTransform:
    """Augmentation from an :class:`AugmentConfig`, then the eval normalisation.

    Geometric ops run first on uint8 pixels, photometric ops next, noise last on the 0-1 float image
    (clipped), so that an op's strength means the same thing at every image size.
    """

    def __init__(
        self, augment: AugmentConfig, image_size: int, mean: Sequence[float], std: Sequence[float]
    ) -> None:
        self.transforms = v2.Compose(
            geometric_ops(augment, image_size)
            + policy_ops(augment)
            + photometric_ops(augment)
            + noise_and_normalize(augment, mean, std)
        )

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return self.transforms(image)


def geometric_ops(augment: AugmentConfig, image_size: int) -> list[v2.Transform]:
    """Crops, flips and the affine op that the config asks for, in that order."""
    ops: list[v2.Transform] = []
    if augment.random_resized_crop is not None:
        crop = augment.random_resized_crop
        ops.append(v2.RandomResizedCrop(image_size, scale=crop.scale, ratio=crop.ratio, antialias=True))
    if augment.hflip > 0:
        ops.append(v2.RandomHorizontalFlip(augment.hflip))
    if augment.vflip > 0:
        ops.append(v2.RandomVerticalFlip(augment.vflip))
    if augment.rotation > 0 or augment.translate > 0 or augment.scale is not None:
        ops.append(
            v2.RandomAffine(
                degrees=augment.rotation,
                translate=(augment.translate, augment.translate) if augment.translate > 0 else None,
                scale=augment.scale,
            )
        )
    return ops


# The automatic policies of ``augment.auto``, on uint8 pixels (grey or RGB).
AUTO_POLICIES = {"trivialaugment": v2.TrivialAugmentWide, "randaugment": v2.RandAugment}


def policy_ops(augment: AugmentConfig) -> list[v2.Transform]:
    """The automatic augmentation policy the config names (none: no op)."""
    policy = AUTO_POLICIES.get(augment.auto)
    return [policy()] if policy else []


def photometric_ops(augment: AugmentConfig) -> list[v2.Transform]:
    """Brightness/contrast jitter, sharpness and blur."""
    ops: list[v2.Transform] = []
    if augment.brightness > 0 or augment.contrast > 0:
        ops.append(v2.ColorJitter(brightness=augment.brightness or None, contrast=augment.contrast or None))
    if augment.sharpness is not None and augment.sharpness.p > 0:
        ops.append(v2.RandomAdjustSharpness(augment.sharpness.factor, p=augment.sharpness.p))
    if augment.blur is not None and augment.blur.p > 0:
        blur = v2.GaussianBlur(augment.blur.kernel | 1, sigma=augment.blur.sigma)
        ops.append(v2.RandomApply([blur], p=augment.blur.p))
    return ops


def noise_and_normalize(
    augment: AugmentConfig, mean: Sequence[float], std: Sequence[float]
) -> list[v2.Transform]:
    """Float conversion, optional Gaussian noise (std on the 0-1 scale, clipped), normalisation."""
    ops: list[v2.Transform] = [v2.ToDtype(torch.float32, scale=True)]
    if augment.noise_std > 0:
        ops.append(v2.GaussianNoise(sigma=augment.noise_std, clip=True))
    ops.append(v2.Normalize(list(mean), list(std)))
    return ops


def mix_alphas(augment: AugmentConfig) -> dict[str, float]:
    """``{"mixup": alpha, "cutmix": alpha}`` of the batch-mixing ops that are on."""
    return {
        name: alpha for name, alpha in (("mixup", augment.mixup), ("cutmix", augment.cutmix)) if alpha > 0
    }


def batch_mixer(augment: AugmentConfig, num_classes: int) -> v2.Transform | None:
    """MixUp and/or CutMix on a whole batch ``(images, class indices) -> (mixed images, soft labels)``, one of
    the two at random per batch when both are on; None when neither is."""
    ops = {"mixup": v2.MixUp, "cutmix": v2.CutMix}
    mixers = [ops[name](alpha=alpha, num_classes=num_classes) for name, alpha in mix_alphas(augment).items()]
    if not mixers:
        return None
    return mixers[0] if len(mixers) == 1 else v2.RandomChoice(mixers)


def eval_safe_augment(augment: AugmentConfig) -> AugmentConfig:
    """The subset of the training augmentation that keeps a label valid at test time (TTA): flips and small shifts."""
    return AugmentConfig(
        preset="none",
        hflip=0.5 if augment.hflip > 0 else 0.0,
        vflip=0.5 if augment.vflip > 0 else 0.0,
        translate=min(augment.translate, 0.05),
    )


def describe_augment(augment: AugmentConfig) -> str:
    """The augmentation in force, in words (beside the preset it started from), read from the same settings
    :class:`TrainTransform` applies, e.g. ``standard preset: hflip p=0.5, rotation ±15°, shift ±5%, ...``."""
    parts: list[str] = []
    crop = augment.random_resized_crop
    if crop is not None:
        parts.append(f"random resized crop {crop.scale[0]:g}-{crop.scale[1]:g} of the area")
    if augment.hflip > 0:
        parts.append(f"hflip p={augment.hflip:g}")
    if augment.vflip > 0:
        parts.append(f"vflip p={augment.vflip:g}")
    if augment.rotation > 0:
        parts.append(f"rotation ±{augment.rotation:g}°")
    if augment.translate > 0:
        parts.append(f"shift ±{augment.translate * 100:g}%")
    if augment.scale is not None:
        parts.append(f"zoom {augment.scale[0]:g}-{augment.scale[1]:g}")
    if augment.brightness > 0:
        parts.append(f"brightness ±{augment.brightness:g}")
    if augment.contrast > 0:
        parts.append(f"contrast ±{augment.contrast:g}")
    if augment.sharpness is not None and augment.sharpness.p > 0:
        parts.append(f"sharpness x{augment.sharpness.factor:g} p={augment.sharpness.p:g}")
    if augment.blur is not None and augment.blur.p > 0:
        parts.append(f"blur sigma {augment.blur.sigma[0]:g}-{augment.blur.sigma[1]:g} p={augment.blur.p:g}")
    if augment.noise_std > 0:
        parts.append(f"noise std {augment.noise_std:g}")
    if augment.auto != "none":
        parts.append(augment.auto)
    parts += [f"{name} alpha {alpha:g}" for name, alpha in mix_alphas(augment).items()]
    return f"{augment.preset} preset: {', '.join(parts) if parts else 'no augmentation'}"
