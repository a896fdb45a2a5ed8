"""Progressive resizing (``trainer.progressive_resizing``): the first epochs train on smaller images.

A convolutional network's cost grows with the pixels, and what it learns in early epochs (edges, textures,
coarse shapes) does not need the full resolution; the fast.ai and FFCV ImageNet recipes start small and end at
the final size. Here the side grows linearly from ``start_size`` in the first epoch to ``data.image_size`` at
the fraction ``full_size_from`` of the epochs, in steps of :data:`SIZE_STEP` pixels, and stays there; validation,
precise BN, test and inference always see ``data.image_size``.

The batches are shrunk in the training step (bilinear with antialiasing, on the device the model runs on), so
the data pipeline, its cache and the loader workers stay as they are.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from medclass.utils.errors import ConfigError

SIZE_STEP = 16  # a multiple of 16 keeps the feature maps of stride-16/32 networks free of odd remainders


def epoch_image_size(epoch: int, epochs: int, start_size: int, full_size: int, full_size_from: float) -> int:
    """The side of the training images in ``epoch`` (0-based) of ``epochs``.

    The side grows linearly from ``start_size`` (epoch 0) to ``full_size`` at epoch
    ``round(epochs * full_size_from)``, rounded to a multiple of :data:`SIZE_STEP` and never above
    ``full_size``; from that epoch on it is ``full_size``. The last epoch is always at ``full_size``, so the
    BatchNorm statistics the model ends with are those of the size it is validated and used at.
    """
    ramp_epochs = min(max(1, round(epochs * full_size_from)), epochs - 1)
    if start_size >= full_size or epoch >= ramp_epochs:
        return full_size
    side = start_size + (full_size - start_size) * epoch / ramp_epochs
    return min(full_size, max(SIZE_STEP, round(side / SIZE_STEP) * SIZE_STEP))


def resize_batch(images: torch.Tensor, side: int) -> torch.Tensor:
    """``images`` (N, C, H, W) scaled to ``side`` x ``side`` (bilinear, antialiased); unchanged at that size."""
    if images.shape[-2:] == (side, side):
        return images
    return F.interpolate(images, size=(side, side), mode="bilinear", antialias=True, align_corners=False)


def check_model_takes_size(model: nn.Module, channels: int, side: int) -> None:
    """Refuse progressive resizing for a model that needs one fixed input size (a ViT, a flatten head).

    Raises:
        ConfigError: naming ``trainer.progressive_resizing.start_size`` and what the model accepts.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, channels, side, side, device=_device_of(model)))
    except (RuntimeError, ValueError, AssertionError) as exc:
        raise ConfigError(
            f"trainer.progressive_resizing.start_size: the model does not take {side} px inputs "
            f"({str(exc).splitlines()[0][:160]}); progressive resizing needs a model that adapts to the input "
            "size (a CNN with global pooling), so leave it off for this one"
        ) from None
    finally:
        model.train(was_training)


def _device_of(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")
