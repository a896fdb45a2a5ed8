"""The declared-size limit: every reader checks the size its header declares before decoding (issue 22)."""

from __future__ import annotations

import time
from pathlib import Path

import bombs
import numpy as np
import pytest

from medclass.data.limits import MAX_IMAGE_PIXELS
from medclass.data.npz import load_npz
from medclass.data.readers import ImageTooLarge, UnreadableImage, image_info, read_image
from medclass.data.scan import scan_files
from medclass.utils.errors import DataError

# Pillow warns of the bombs at open, just before medclass refuses them.
pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
MESSAGE = bombs.MESSAGE


@pytest.fixture(scope="module")
def bomb_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return bombs.make_all(tmp_path_factory.mktemp("bombs"))


def test_the_limit_is_pillows_number() -> None:
    from PIL import Image

    assert MAX_IMAGE_PIXELS == Image.MAX_IMAGE_PIXELS == 89_478_485


@pytest.mark.parametrize("name", list(bombs.MAKERS))
def test_a_huge_declared_size_is_refused_before_decoding(bomb_files: dict[str, Path], name: str) -> None:
    path = bomb_files[name]
    assert path.stat().st_size < 1_000_000
    for read in (read_image, image_info):
        start = time.perf_counter()
        with pytest.raises(ImageTooLarge) as info:
            read(path)
        assert time.perf_counter() - start < 2.0, f"{read.__name__} decoded {name}"
        assert isinstance(info.value, UnreadableImage) and info.value.path == path
        assert info.value.reason == MESSAGE


def test_pillows_own_refusal_reads_the_same(tmp_path: Path) -> None:
    """Beyond twice its limit Pillow refuses at open, before medclass sees the size: the same words."""
    path = bombs.png_bomb(tmp_path / "huge.png", side=15000)
    for read in (read_image, image_info):
        with pytest.raises(ImageTooLarge) as info:
            read(path)
        assert info.value.reason == f"image too large: 225,000,000 pixels; the limit is {MAX_IMAGE_PIXELS:,}"


def test_the_scan_lists_it_as_unreadable_with_the_message(
    bomb_files: dict[str, Path], tmp_path: Path
) -> None:
    (result,) = scan_files([bomb_files["bomb.dcm"]], cache_dir=tmp_path, workers=1)
    assert not result.readable and result.reason == MESSAGE


def test_dicom_frames_are_decoded_one_at_a_time(tmp_path: Path) -> None:
    """A multi-frame file of many frames below the limit each reads its one frame (frames x size may exceed it)."""
    path = bombs.dicom_bomb(tmp_path / "frames.dcm", side=4000, frames=8)  # 128,000,000 pixels in all
    assert read_image(path, slice_index=5).shape == (4000, 4000, 1)


def test_an_npz_of_huge_images_is_refused_from_its_headers(tmp_path: Path) -> None:
    path = bombs.npz_bomb(tmp_path / "bomb.npz")
    start = time.perf_counter()
    with pytest.raises(DataError) as info:
        load_npz(path)
    assert time.perf_counter() - start < 2.0
    assert str(info.value) == f"{path}: 'train_images' holds images too large: " + MESSAGE.split(": ", 1)[1]
    with pytest.raises(UnreadableImage, match="too large"):
        read_image(f"{path}::train/0")


def test_an_npz_header_that_declares_more_than_the_member_holds_is_refused(tmp_path: Path) -> None:
    """A forged ``.npy`` header (10**12 bytes in a few bytes of data) is refused before numpy allocates it."""
    import zipfile

    path = tmp_path / "forged.npz"
    header = {"descr": "|u1", "fortran_order": False, "shape": (1_000_000, 1000, 1000)}
    with zipfile.ZipFile(path, "w") as archive:
        with archive.open("train_images.npy", "w") as handle:
            np.lib.format.write_array_header_1_0(handle, header)
            handle.write(b"\0" * 16)
        with archive.open("train_labels.npy", "w") as handle:
            np.lib.format.write_array(handle, np.zeros(1, np.uint8))
    with pytest.raises(DataError, match="'train_images' declares 1000000000000 bytes but the file holds 16"):
        load_npz(path)
