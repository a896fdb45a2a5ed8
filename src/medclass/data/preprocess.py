"""The one path from an image file to model-sized pixels, and the settings that define it.

``load_preprocessed`` is used by the cache (training and evaluation), by ``predict`` and by ``explain``, so an
image is turned into pixels the same way everywhere. Its settings travel with the checkpoint
(``PreprocessSettings.to_dict`` / ``from_dict``) so that inference rebuilds exactly the training input.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from medclass.data.readers import read_image
from medclass.transforms.geometry import RESIZE_MODES, crop_foreground, resize_array

if TYPE_CHECKING:
    from medclass.config.schema import DataConfig


@dataclass(frozen=True)
class PreprocessSettings:
    """How a file becomes a ``image_size x image_size x channels`` uint8 array.

    Attributes:
        image_size: Output height and width.
        channels: 1 (grey) or 3 (RGB).
        resize: ``"stretch"`` or ``"letterbox"`` (see ``transforms.geometry.resize_array``).
        crop_foreground: Crop to the largest bright component before resizing.
        crop_threshold: Foreground level as a fraction of the image's intensity range.
        slice_index: NIfTI slice (last axis) or DICOM frame; None: the middle one.
        window: ``(center, width)`` for DICOM (after the modality LUT, e.g. HU) and NIfTI; None: the file's own.
    """

    image_size: int
    channels: int = 1
    resize: str = "stretch"
    crop_foreground: bool = False
    crop_threshold: float = 0.1
    slice_index: int | None = None
    window: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if (
            isinstance(self.image_size, bool)
            or int(self.image_size) != self.image_size
            or self.image_size < 1
        ):
            raise ValueError(f"image_size = {self.image_size!r}: must be a positive integer")
        if self.channels not in (1, 3):
            raise ValueError(f"channels = {self.channels!r}: must be 1 or 3")
        if self.resize not in RESIZE_MODES:
            raise ValueError(f"resize = {self.resize!r}: must be one of {', '.join(RESIZE_MODES)}")
        if not 0 < self.crop_threshold < 1:
            raise ValueError(f"crop_threshold = {self.crop_threshold!r}: must be between 0 and 1")
        # Normalise types so that to_dict() (and so the cache key) does not depend on 128 vs 128.0.
        object.__setattr__(self, "image_size", int(self.image_size))
        object.__setattr__(self, "channels", int(self.channels))
        object.__setattr__(self, "crop_foreground", bool(self.crop_foreground))
        object.__setattr__(self, "crop_threshold", float(self.crop_threshold))
        if self.slice_index is not None:
            object.__setattr__(self, "slice_index", int(self.slice_index))
        if self.window is not None:
            center, width = (float(v) for v in self.window)
            if not width >= 1:
                raise ValueError(f"window = {self.window!r}: the width must be at least 1")
            object.__setattr__(self, "window", (center, width))

    @classmethod
    def from_config(cls, data_cfg: DataConfig) -> PreprocessSettings:
        """The settings of a run's ``data`` config section."""
        return cls(
            image_size=data_cfg.image_size,
            channels=data_cfg.channels,
            resize=data_cfg.resize,
            crop_foreground=data_cfg.crop_foreground,
            crop_threshold=data_cfg.crop_threshold,
            slice_index=data_cfg.slice_index,
            window=data_cfg.window,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (stored in checkpoints and in the cache key)."""
        data = asdict(self)
        if data["window"] is None:
            del data["window"]  # absent unless set: the same cache keys and checkpoints as before the option
        else:
            data["window"] = list(data["window"])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessSettings:
        """Inverse of :meth:`to_dict`; other keys (``mean``/``std`` beside them in a checkpoint) are ignored.

        Raises:
            ValueError: ``image_size`` is missing or a value is invalid.
        """
        names = {f.name for f in fields(cls)}
        if "image_size" not in data:
            raise ValueError(f"preprocess settings without 'image_size': {sorted(data)}")
        return cls(**{k: v for k, v in data.items() if k in names})


def load_preprocessed(path: str | os.PathLike, settings: PreprocessSettings) -> np.ndarray:
    """Read a file and turn it into model-sized pixels: read -> [crop foreground] -> resize.

    Args:
        path: Any file ``read_image`` understands.
        settings: The preprocessing of the run (or of the checkpoint, at inference).

    Returns:
        ``uint8`` array of shape ``(image_size, image_size, channels)``.

    Raises:
        UnreadableImage: the file cannot be read (see ``data.readers``).
    """
    image = read_image(
        path, channels=settings.channels, slice_index=settings.slice_index, window=settings.window
    )
    if settings.crop_foreground:
        image = crop_foreground(image, settings.crop_threshold)
    return resize_array(image, settings.image_size, settings.resize)
