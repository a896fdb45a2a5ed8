"""The intensity rules of the readers against their formulas (module docstring of ``data.readers``): min-max
and range scaling, 16-bit images by their stored range, NIfTI calibration and windows, NIfTI shapes, reasons."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from medclass.data.readers import (
    ImageTooLarge,
    UnreadableImage,
    _short,
    read_image,
    scale_range,
    scale_to_uint8,
    window_range,
)


def _formula(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.clip(np.rint((x - lo) * 255.0 / (hi - lo)), 0, 255).astype(np.uint8)


def _nifti(path: Path, data: np.ndarray, cal: tuple[float, float] | None = None) -> Path:
    image = nib.Nifti1Image(data, np.eye(4))
    if cal is not None:
        image.header["cal_min"], image.header["cal_max"] = cal
    nib.save(image, path)
    return path


def test_min_max_scaling_is_the_rounded_formula() -> None:
    x = np.array([[-2.0, 0.0, 1.0, 2.5], [3.0, 5.5, 7.0, 8.0]])
    out = scale_to_uint8(x)
    assert out.dtype == np.uint8
    assert out.tolist() == _formula(x, -2.0, 8.0).tolist()
    assert out.min() == 0 and out.max() == 255
    # Non-finite values are 0 and left out of the range; a constant or all-NaN image is all zeros.
    y = np.array([np.nan, 0.0, np.inf, 3.0, -np.inf, 10.0])
    assert scale_to_uint8(y).tolist() == [0, 0, 0, 76, 0, 255]  # 76.5 rounds to even
    assert scale_to_uint8(np.full((2, 2), 7.0)).tolist() == [[0, 0], [0, 0]]
    assert scale_to_uint8(np.full(3, np.nan)).tolist() == [0, 0, 0]
    assert scale_to_uint8([1, 2]).tolist() == [0, 255]  # plain sequences too


def test_range_scaling_and_windows() -> None:
    x = np.array([-100.0, 0.0, 40.0, 80.0, 1000.0, np.nan])
    assert scale_range(x, 0.0, 80.0).tolist() == [0, 0, 128, 255, 255, 0]
    assert scale_range(x, 5.0, 5.0).tolist() == [0] * 6  # an empty range
    # DICOM PS3.3 C.11.2.1.2.1: center 40, width 80 maps [0, 79] onto the output range.
    assert window_range(40, 80) == (0.0, 79.0)
    assert window_range(0, 1) == (-0.5, -0.5)


def test_sixteen_bit_images_scale_by_their_stored_range_not_their_own(tmp_path: Path) -> None:
    # A dark 16-bit image stays dark: 65535 is white, whatever the image's own maximum.
    dark = np.array([[0, 257, 1000, 4000]], dtype=np.uint16)
    Image.fromarray(dark).save(tmp_path / "dark.png")
    assert read_image(tmp_path / "dark.png")[..., 0].tolist() == _formula(dark, 0, 65535).tolist()
    bright = np.array([[30000, 40000, 65535, 50000]], dtype=np.uint16)  # no zero in it
    Image.fromarray(bright).save(tmp_path / "bright.png")
    assert read_image(tmp_path / "bright.png")[..., 0].tolist() == _formula(bright, 0, 65535).tolist()


def test_nifti_calibration_then_window_then_min_max(tmp_path: Path) -> None:
    data = np.array([[0.0, 10.0, 15.0], [20.0, 30.0, 12.5]], dtype=np.float32)  # (i, j) = (2, 3)
    calibrated = _nifti(tmp_path / "cal.nii", data, cal=(10.0, 20.0))
    assert read_image(calibrated)[..., 0].tolist() == np.rot90(_formula(data, 10.0, 20.0)).tolist()
    # A window given by the caller wins over the file's calibration.
    lo, hi = window_range(20.0, 21.0)
    assert (
        read_image(calibrated, window=(20.0, 21.0))[..., 0].tolist()
        == np.rot90(_formula(data, lo, hi)).tolist()
    )
    # No usable calibration (max <= min): the image's own range.
    for cal in [(0.0, 0.0), (20.0, 10.0), (5.0, 5.0)]:
        path = _nifti(tmp_path / "own.nii", data, cal=cal)
        assert read_image(path)[..., 0].tolist() == np.rot90(_formula(data, 0.0, 30.0)).tolist(), cal
    # Only cal_max set: calibration from 0.
    path = _nifti(tmp_path / "max.nii", data, cal=(0.0, 20.0))
    assert read_image(path)[..., 0].tolist() == np.rot90(_formula(data, 0.0, 20.0)).tolist()
    # Only cal_min set (max 0 <= min): the image's own range.
    path = _nifti(tmp_path / "min.nii", data, cal=(12.0, 0.0))
    assert read_image(path)[..., 0].tolist() == np.rot90(_formula(data, 0.0, 30.0)).tolist()
    # 8-bit voxels without calibration are kept as they are.
    small = np.array([[3, 9], [200, 17]], dtype=np.uint8)
    assert read_image(_nifti(tmp_path / "u8.nii", small))[..., 0].tolist() == np.rot90(small).tolist()


@pytest.mark.parametrize(
    ("shape", "plane"),
    [
        ((3, 4, 1), (slice(None), slice(None), 0)),
        ((3, 4, 1, 1), (slice(None), slice(None), 0, 0)),
        ((3, 4, 5, 1), (slice(None), slice(None), 2, 0)),
        ((3, 4, 5, 2), (slice(None), slice(None), 2, 0)),
        ((3, 4, 1, 2), (slice(None), slice(None), 0, 0)),
    ],
)
def test_nifti_trailing_singleton_axes_and_series(tmp_path: Path, shape: tuple, plane: tuple) -> None:
    data = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape) ** 1.5
    out = read_image(_nifti(tmp_path / "v.nii.gz", data))
    assert out.shape == (shape[1], shape[0], 1)
    assert out[..., 0].tolist() == np.rot90(scale_to_uint8(data[plane])).tolist()


def test_nifti_that_is_not_an_image_or_not_nifti_names_the_file(tmp_path: Path) -> None:
    line = _nifti(tmp_path / "line.nii", np.arange(5, dtype=np.float32))
    with pytest.raises(UnreadableImage) as caught:
        read_image(line)
    assert caught.value.path == line and caught.value.reason == "NIfTI of shape (5,) is not an image"
    fake = tmp_path / "fake.nii"
    fake.write_bytes(b"\x00" * 400)
    with pytest.raises(UnreadableImage) as caught:
        read_image(fake)
    assert caught.value.path == fake and caught.value.reason
    volume = _nifti(tmp_path / "v.nii", np.zeros((3, 4, 4), dtype=np.float32))
    with pytest.raises(UnreadableImage) as caught:
        read_image(volume, slice_index=4)
    assert caught.value.reason == "slice_index 4 out of range 0-3 (the last axis has 4)"


def test_nifti_size_limit_uses_rows_and_columns(tmp_path: Path) -> None:
    # 2 x 10,000 voxels is a small image; a reader that squared one side would see 10^8 pixels.
    thin = _nifti(tmp_path / "thin.nii", np.zeros((2, 10_000), dtype=np.uint8))
    assert read_image(thin).shape == (10_000, 2, 1)
    huge = tmp_path / "huge.nii"
    header = nib.Nifti1Header()
    header.set_data_shape((10_000, 10_000))
    header.set_data_dtype(np.uint8)
    with huge.open("wb") as f:
        header.write_to(f)
        f.write(b"\x00" * 64)
    with pytest.raises(ImageTooLarge):
        read_image(huge)


def test_nifti_rgb_voxels_are_three_channels(tmp_path: Path) -> None:
    rgb = np.zeros((3, 2), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    rgb["R"], rgb["G"], rgb["B"] = 200, np.arange(6).reshape(3, 2), 7
    path = tmp_path / "rgb.nii"
    nib.save(nib.Nifti1Image(rgb, np.eye(4)), path)
    out = read_image(path, channels=3)
    assert out.shape == (2, 3, 3)
    expected = np.rot90(np.stack([rgb["R"], rgb["G"], rgb["B"]], axis=-1))
    assert out.tolist() == expected.tolist()


def test_reasons_are_one_short_line() -> None:
    assert _short(ValueError("bad\n   header\tfield")) == "bad header field"
    assert _short(KeyError()) == "KeyError"
    exact = "x" * 160
    assert _short(ValueError(exact)) == exact
    long = _short(ValueError("y" * 161))
    assert len(long) == 160 and long == "y" * 157 + "..."
