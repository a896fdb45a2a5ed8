"""DICOM intensity rules against their formulas (module docstring of ``data.readers``; PS3.3 C.11.2.1.2.1):
values after the modality LUT, scaled by the range the file can hold, or through a linear window (the file's,
or the caller's, which wins); MONOCHROME1 inverted; one frame of a multi-frame file; named reasons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from dicom_files import write_dicom

from medclass.data.readers import UnreadableImage, read_image, window_range

STORED = np.array([[0, 100, 1000], [2000, 3000, 4095]], dtype=np.int64)


def _formula(x: np.ndarray, lo: float, hi: float) -> list:
    return np.clip(np.rint((np.asarray(x, float) - lo) * 255.0 / (hi - lo)), 0, 255).astype(np.uint8).tolist()


def _read(path: Path, **kwargs) -> list:
    out = read_image(path, **kwargs)
    assert out.shape == (*STORED.shape, 1) and out.dtype == np.uint8
    return out[..., 0].tolist()


def test_without_a_window_the_stored_range_is_the_scale(tmp_path: Path) -> None:
    plain = write_dicom(tmp_path / "p.dcm", STORED, bits=12)
    assert _read(plain) == _formula(STORED, 0, 4095)  # a dark image stays dark
    # CT: HU = stored - 1024; the range moves with the rescale, so the picture is the same.
    ct = write_dicom(tmp_path / "ct.dcm", STORED, bits=12, RescaleSlope=1, RescaleIntercept=-1024)
    assert _read(ct) == _formula(STORED - 1024, -1024, 3071)
    # A negative slope flips the range: the brightest stored value is the darkest.
    flipped = write_dicom(tmp_path / "f.dcm", STORED, bits=12, RescaleSlope=-2, RescaleIntercept=10)
    assert _read(flipped) == _formula(10 - 2 * STORED, 10 - 2 * 4095, 10)
    # 16 stored bits: 65535 is white.
    sixteen = write_dicom(tmp_path / "s.dcm", STORED, bits=16)
    assert _read(sixteen) == _formula(STORED, 0, 65535)


def test_signed_pixels_use_the_signed_range(tmp_path: Path) -> None:
    signed = np.array([[-1000, 0, 1000], [-32768, 32767, 5]], dtype=np.int16)
    path = write_dicom(tmp_path / "signed.dcm", signed.view(np.uint16), bits=16, PixelRepresentation=1)
    assert _read(path) == _formula(signed, -32768, 32767)


def test_the_files_window_then_the_callers(tmp_path: Path) -> None:
    windowed = write_dicom(
        tmp_path / "w.dcm",
        STORED,
        bits=12,
        RescaleSlope=1,
        RescaleIntercept=-1024,
        WindowCenter=40,
        WindowWidth=400,
    )
    hu = STORED - 1024
    assert _read(windowed) == _formula(hu, *window_range(40, 400))
    assert _read(windowed, window=(1000, 2000)) == _formula(hu, *window_range(1000, 2000))
    # A window given for a file without one.
    plain = write_dicom(tmp_path / "p.dcm", STORED, bits=12)
    assert _read(plain, window=(2000, 1001)) == _formula(STORED, *window_range(2000, 1001))
    # Only a centre, no width: no window.
    half = write_dicom(tmp_path / "h.dcm", STORED, bits=12, WindowCenter=40)
    assert _read(half) == _formula(STORED, 0, 4095)


def test_monochrome1_is_inverted(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "m1.dcm", STORED, bits=12, PhotometricInterpretation="MONOCHROME1")
    assert _read(path) == (255 - np.array(_formula(STORED, 0, 4095))).tolist()


def test_one_frame_of_a_multi_frame_file(tmp_path: Path) -> None:
    frames = np.stack([STORED, 4095 - STORED, STORED // 2])
    path = write_dicom(tmp_path / "mf.dcm", frames, bits=12)
    assert _read(path) == _formula(frames[1], 0, 4095)  # the middle one
    assert _read(path, slice_index=0) == _formula(frames[0], 0, 4095)
    assert _read(path, slice_index=2) == _formula(frames[2], 0, 4095)
    with pytest.raises(UnreadableImage) as caught:
        read_image(path, slice_index=3)
    assert caught.value.reason == "slice_index 3 out of range 0-2 (the file's frame count has 3)"
    assert caught.value.path == path


def test_files_that_are_not_dicom_images_are_named(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "nopix.dcm", STORED, bits=12)
    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(path)
    with pytest.raises(UnreadableImage) as caught:
        read_image(path)
    assert caught.value.reason == "DICOM file without pixel data" and caught.value.path == path
    fake = tmp_path / "fake.dcm"
    fake.write_bytes(b"not a dicom file at all" * 10)
    with pytest.raises(UnreadableImage) as caught:
        read_image(fake)
    assert caught.value.reason.startswith("not a DICOM file: ") and caught.value.path == fake
