"""MedMNIST-style ``.npz`` data sets: images and labels in arrays, with their own train/val/test splits.

The file holds ``train_images`` and ``train_labels`` and, optionally, ``val_images``/``val_labels`` and
``test_images``/``test_labels`` (the layout of the MedMNIST v2 files, e.g. ``pneumoniamnist_64.npz``). Images
are ``uint8``, either grey ``(N, H, W)`` or RGB ``(N, H, W, 3)``, every split the same ``H x W`` (MedMNIST ships
28, 64, 128 and 224 px); labels are non-negative integers of shape ``(N,)`` or ``(N, 1)``, or, in a multi-label
file such as ChestMNIST's, ``(N, K)`` values 0, 1 (or -1, uncertain), the same ``K`` in every split. Class names are the label values as text (``"0"``, ``"1"``, ...),
zero-padded when there are ten classes or more so that their sorted order is the numeric order.

Every image has a stable identity, a *member path* ``/abs/file.npz::train/123`` (split and index in the
file), which stands for a file path everywhere: in ``splits.csv``, predictions, the cache and the scan. The
readers, the hashing and the file checks (``data.readers``, ``data.files``) recognise member paths through
:func:`parse_member` and read the pixels through :func:`member_pixels`. A member's md5 is that of its pixel
bytes and shape, so exact copies inside the file are found as duplicates.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import threading
import zipfile
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from medclass.data.limits import too_large
from medclass.utils.errors import DataError

SPLITS = ("train", "val", "test")
SEPARATOR = "::"
_MEMBER = re.compile(r"^(?P<file>.+\.npz)::(?P<split>train|val|test)/(?P<index>\d+)$", re.IGNORECASE)
_LOCK = threading.Lock()


@dataclass(frozen=True)
class NpzData:
    """The validated arrays of one file: ``images[split]`` ``(N, H, W, C)`` uint8, ``labels[split]`` ``(N,)``."""

    path: Path
    images: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]

    @property
    def multilabel(self) -> bool:
        """Whether the labels are ``(N, K)`` per-label values (one image, several labels)."""
        return self.labels["train"].ndim == 2

    @property
    def n_labels(self) -> int:
        """``K`` of a multi-label file (1 otherwise)."""
        return int(self.labels["train"].shape[1]) if self.multilabel else 1

    @property
    def label_values(self) -> list[int]:
        """Sorted distinct label values over every split."""
        return sorted({int(v) for labels in self.labels.values() for v in np.unique(labels)})

    def class_name(self, value: int) -> str:
        """The class name of a label value (zero-padded to the width of the largest one)."""
        values = self.label_values
        width = len(str(values[-1])) if len(values) >= 10 else 1
        return str(int(value)).zfill(width)


def is_npz_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a ``.npz`` file (by its suffix, any case)."""
    return os.fspath(path).lower().endswith(".npz")


def member_path(npz: str | os.PathLike, split: str, index: int) -> Path:
    """The member path of image ``index`` of ``split`` in ``npz``: ``/abs/file.npz::split/index``."""
    return Path(f"{os.path.abspath(os.fspath(npz))}{SEPARATOR}{split}/{int(index)}")


def parse_member(path: str | os.PathLike) -> tuple[Path, str, int] | None:
    """``(npz file, split, index)`` of a member path, or None when ``path`` is not one."""
    text = os.fspath(path)
    if SEPARATOR not in text:
        return None
    match = _MEMBER.match(text)
    if match is None:
        return None
    return Path(match["file"]), match["split"].lower(), int(match["index"])


def load_npz(path: str | os.PathLike) -> NpzData:
    """Read and check a MedMNIST-style file (cached per path, size and modification time).

    Raises:
        DataError: not a readable ``.npz``, a missing key, an image or label array of the wrong shape or
            type, image and label counts that differ, or splits of different image sizes; the message names
            the file and the key.
    """
    path = Path(os.path.abspath(os.fspath(path)))
    try:
        info = path.stat()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the .npz file: {exc.strerror or exc}") from None
    with _LOCK:  # one load per file even when the cache's threads hash its members at once
        return _load(str(path), info.st_size, info.st_mtime_ns)


@lru_cache(maxsize=4)
def _load(path: str, size: int, mtime_ns: int) -> NpzData:
    del size, mtime_ns  # part of the cache key only: a rewritten file is read again
    try:
        with np.load(path, allow_pickle=False) as archive:
            _check_headers(path, archive.zip)
            arrays = {key: archive[key] for key in archive.files}
    # What a damaged archive raises from zipfile: a bad deflate stream (zlib.error), an unsupported or encrypted
    # member (NotImplementedError, RuntimeError), a short header (struct.error).
    except (OSError, ValueError, EOFError, RuntimeError, zipfile.BadZipFile, zlib.error, struct.error) as exc:
        raise DataError(
            f"{path}: not a readable .npz file ({' '.join(str(exc).split())[:160]}); expected a MedMNIST-style "
            "archive with train_images, train_labels[, val_*, test_*]"
        ) from None
    images: dict[str, np.ndarray] = {}
    labels: dict[str, np.ndarray] = {}
    for split in SPLITS:
        image_key, label_key = f"{split}_images", f"{split}_labels"
        if split != "train" and image_key not in arrays and label_key not in arrays:
            continue
        for key in (image_key, label_key):
            if key not in arrays:
                found = ", ".join(sorted(arrays)) or "none"
                raise DataError(f"{path}: missing key '{key}' (found {found})")
        images[split] = _images(path, image_key, arrays[image_key])
        labels[split] = _labels(path, label_key, arrays[label_key])
        if len(images[split]) != len(labels[split]):
            raise DataError(
                f"{path}: '{image_key}' has {len(images[split])} images but '{label_key}' has "
                f"{len(labels[split])} labels"
            )
    widths = {split: array.shape[1:] for split, array in labels.items()}
    if len(set(widths.values())) > 1:
        shown = ", ".join(f"{split} {shape}" for split, shape in widths.items())
        raise DataError(f"{path}: the splits have different label shapes ({shown}); expected one")
    sizes = {split: array.shape[1:] for split, array in images.items()}
    if len(set(sizes.values())) > 1:
        shown = ", ".join(f"{split} {shape}" for split, shape in sizes.items())
        raise DataError(f"{path}: the splits have different image shapes ({shown}); expected one size")
    return NpzData(Path(path), images, labels)


_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def _check_headers(path: str, archive: zipfile.ZipFile) -> None:
    """What each ``.npy`` member declares, from its header, before numpy allocates it: no more bytes than the
    member holds, and images within :data:`medclass.data.limits.MAX_IMAGE_PIXELS`."""
    for info in archive.infolist():
        if not info.filename.endswith(".npy"):
            continue
        key = info.filename[: -len(".npy")]
        with archive.open(info) as handle:
            version = np.lib.format.read_magic(handle)
            if version not in _HEADER_READERS:
                raise DataError(f"{path}: '{key}' is a .npy of format version {version}; expected 1.0 or 2.0")
            shape, _, dtype = _HEADER_READERS[version](handle)
            held = info.file_size - handle.tell()
        declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if declared > held:
            raise DataError(f"{path}: '{key}' declares {declared} bytes but the file holds {held}")
        reason = too_large(tuple(shape[1:3])) if key.endswith("_images") and len(shape) >= 3 else None
        if reason is not None:
            raise DataError(f"{path}: '{key}' holds images too large: {reason.split(': ', 1)[1]}")


def _images(path: str, key: str, array: np.ndarray) -> np.ndarray:
    if array.dtype != np.uint8:
        raise DataError(f"{path}: '{key}' has dtype {array.dtype}; expected uint8 pixels")
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[3] not in (1, 3) or 0 in array.shape[1:3]:
        raise DataError(
            f"{path}: '{key}' has shape {array.shape}; expected (N, H, W) grey or (N, H, W, 3) RGB"
        )
    return array


def _labels(path: str, key: str, array: np.ndarray) -> np.ndarray:
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim == 2:
        if array.dtype.kind not in "iu" or (array.size and not np.isin(array, (-1, 0, 1)).all()):
            raise DataError(
                f"{path}: '{key}' has shape {array.shape}: multi-label values must be integers 0, 1 or -1 "
                f"(uncertain) (dtype {array.dtype})"
            )
        return array.astype(np.int64)
    if array.ndim != 1:
        raise DataError(
            f"{path}: '{key}' has shape {array.shape}; expected (N,) or (N, 1) class labels, or (N, K) "
            "multi-label values"
        )
    if array.dtype.kind not in "iu" or (array.size and array.min() < 0):
        raise DataError(f"{path}: '{key}' must hold non-negative integer class labels (dtype {array.dtype})")
    return array.astype(np.int64)


def member_pixels(path: str | os.PathLike) -> np.ndarray:
    """The ``H x W x C`` uint8 pixels of a member path.

    Raises:
        DataError: the file is bad (see :func:`load_npz`) or has no such split or index.
    """
    parsed = parse_member(path)
    if parsed is None:
        raise DataError(f"{path}: not a member path (expected FILE.npz::split/index)")
    npz, split, index = parsed
    data = load_npz(npz)
    if split not in data.images or index >= len(data.images[split]):
        count = len(data.images.get(split, ()))
        raise DataError(f"{path}: no image {index} in split '{split}' of {npz} ({count} images there)")
    return data.images[split][index]


def member_md5(path: str | os.PathLike) -> tuple[str, int]:
    """``(md5 hex, bytes)`` of a member's shape and pixels (same picture, same digest)."""
    pixels = member_pixels(path)
    digest = hashlib.md5(str(pixels.shape).encode(), usedforsecurity=False)
    digest.update(np.ascontiguousarray(pixels).tobytes())
    return digest.hexdigest(), int(pixels.nbytes)
