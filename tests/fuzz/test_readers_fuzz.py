"""Every image reader fed mutated real files: each read ends in a correct array or medclass's own error.

A correct array is ``uint8`` ``H x W x channels`` with ``H, W > 0``, of the size ``image_info`` declares when
that answers; the only error allowed is :class:`UnreadableImage` (``ImageTooLarge`` included). Any other
exception, or a wrong array, is a bug; the examples that found one stay here as ``@example``.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from fuzz.mutations import (
    budget,
    deflated_npz_seed,
    dicom_files,
    fix_png_crcs,
    mutated,
    nifti_files,
    npz_seed,
    pil_seeds,
)
from fuzz.structured import npz_files, png_files
from hypothesis import event, example, given
from hypothesis import strategies as st

from medclass.data.readers import UnreadableImage, image_info, read_image
from medclass.utils.errors import MedclassError

# Decoders warn about odd but readable files (bad EXIF, a bomb below twice Pillow's limit): not failures here.
pytestmark = pytest.mark.filterwarnings("ignore")
_NAMES = itertools.count()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _write(folder: Path, suffix: str, data: bytes) -> Path:
    for previous in folder.iterdir():  # the previous example's file: thousands of them in make fuzz
        previous.unlink()
    path = folder / f"f{next(_NAMES)}{suffix}"  # a new name each time: no reader caches a previous file
    path.write_bytes(data)
    return path


def check_read(path: Path | str, channels: int) -> np.ndarray | None:
    """Read ``path`` both ways (header, pixels) and check the outcome; the array, or None when refused."""
    try:
        info = image_info(path)
    except UnreadableImage as exc:
        assert exc.reason, "an UnreadableImage without a reason"
        info = None
    try:
        array = read_image(path, channels=channels)
    except UnreadableImage as exc:
        assert exc.reason, "an UnreadableImage without a reason"
        event(f"refused: {type(exc).__name__}")
        return None
    event("read")
    assert isinstance(array, np.ndarray) and array.dtype == np.uint8, type(array)
    assert array.ndim == 3 and array.shape[2] == channels and min(array.shape[:2]) > 0, array.shape
    if info is not None:
        assert array.shape[:2] == (info.height, info.width), (array.shape, info)
    return array


def _pil_case(suffix: str) -> st.SearchStrategy[tuple[bytes, int]]:
    seeds = st.sampled_from(pil_seeds()[suffix])
    return st.tuples(seeds.flatmap(mutated), st.sampled_from((1, 3)))


@budget(100)
@given(_pil_case(".png"), st.booleans())
def test_png(folder: Path, case: tuple[bytes, int], fix_crcs: bool) -> None:
    data, channels = case
    check_read(_write(folder, ".png", fix_png_crcs(data) if fix_crcs else data), channels)


@budget(100)
@given(png_files(), st.sampled_from((1, 3)))
def test_png_chunks(folder: Path, data: bytes, channels: int) -> None:
    check_read(_write(folder, ".png", data), channels)


@budget(80)
@given(_pil_case(".jpg"))
def test_jpeg(folder: Path, case: tuple[bytes, int]) -> None:
    check_read(_write(folder, ".jpg", case[0]), case[1])


@budget(100)
@given(_pil_case(".tif"))
def test_tiff(folder: Path, case: tuple[bytes, int]) -> None:
    check_read(_write(folder, ".tif", case[0]), case[1])


@budget(40)
@given(_pil_case(".bmp"))
def test_bmp(folder: Path, case: tuple[bytes, int]) -> None:
    check_read(_write(folder, ".bmp", case[0]), case[1])


@budget(150)
@given(dicom_files(), st.sampled_from((1, 3)))
def test_dicom(folder: Path, data: bytes, channels: int) -> None:
    check_read(_write(folder, ".dcm", data), channels)


@budget(100)
@given(nifti_files(), st.sampled_from((1, 3)))
def test_nifti(folder: Path, case: tuple[bytes, bool], channels: int) -> None:
    data, gzipped = case
    check_read(_write(folder, ".nii.gz" if gzipped else ".nii", data), channels)


def _flipped(data: bytes, pos: int) -> bytes:
    return data[:pos] + bytes([data[pos] ^ 0xFF]) + data[pos + 1 :]


# A damaged deflate stream in a member raised zlib.error out of load_npz (and so out of read_image).
BAD_DEFLATE = _flipped(deflated_npz_seed(), 46)
npz_cases = st.sampled_from((npz_seed(), deflated_npz_seed())).flatmap(
    lambda seed: mutated(seed, header=4096)
)


@budget(100)
@given(npz_cases, st.sampled_from(("train/0", "train/2", "test/1", "val/0")))
@example(BAD_DEFLATE, "train/0")
def test_npz_member(folder: Path, data: bytes, member: str) -> None:
    path = _write(folder, ".npz", data)
    check_read(f"{path}::{member}", 1)


@budget(100)
@given(npz_files(), st.sampled_from(("train/0", "train/2", "test/1", "val/0")), st.sampled_from((1, 3)))
def test_npz_arrays(folder: Path, data: bytes, member: str, channels: int) -> None:
    check_read(f"{_write(folder, '.npz', data)}::{member}", channels)


@budget(60)
@given(npz_cases)
@example(BAD_DEFLATE)
def test_npz_discovery(folder: Path, data: bytes) -> None:
    from medclass.data.discovery import discover

    try:
        index = discover(_write(folder, ".npz", data))
    except MedclassError:
        return
    assert index.classes and index.samples
    assert {sample.label for sample in index.samples} <= set(index.classes)
