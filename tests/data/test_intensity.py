"""One picture, every format: the same model input (within 1/255), by the stored-range rule of data.readers."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from dicom_files import write_dicom
from PIL import Image

from medclass.data.preprocess import PreprocessSettings, load_preprocessed

SETTINGS = PreprocessSettings(image_size=32)


def _picture() -> np.ndarray:
    """A smooth 64 x 64 uint8 picture that does not span 0-255 (so min-max scaling would change it)."""
    y, x = np.mgrid[0:64, 0:64]
    disc = ((x - 40) ** 2 + (y - 24) ** 2 < 150) * 60
    return (30 + 1.2 * x + 0.8 * y + disc).clip(0, 255).astype(np.uint8)


def _writers(tmp_path: Path, a: np.ndarray) -> dict[str, tuple[Path, PreprocessSettings]]:
    files: dict[str, tuple[Path, PreprocessSettings]] = {}

    def add(name: str, path: Path, settings: PreprocessSettings = SETTINGS) -> None:
        files[name] = (path, settings)

    Image.fromarray(a).save(tmp_path / "p8.png")
    add("8-bit PNG", tmp_path / "p8.png")
    Image.fromarray(a).save(tmp_path / "p.jpg", quality=100, subsampling=0)
    add("8-bit JPEG", tmp_path / "p.jpg")
    Image.fromarray(a.astype(np.uint16) * 257).save(tmp_path / "p16.png")
    add("16-bit PNG", tmp_path / "p16.png")
    Image.fromarray(a.astype(np.uint16) * 257).save(tmp_path / "p16.tif")
    add("16-bit TIFF", tmp_path / "p16.tif")
    add("8-bit DICOM", write_dicom(tmp_path / "d8.dcm", a, 8))
    add("16-bit DICOM", write_dicom(tmp_path / "d16.dcm", a.astype(np.uint16) * 257, 16))
    add("12-bit DICOM", write_dicom(tmp_path / "d12.dcm", np.rint(a * (4095 / 255)), 12))
    # CT in HU through RescaleIntercept, read with data.window = [40, 400] (soft tissue): the window's
    # range [-160, 239] is stretched over 0-255, so HU = -160 + a * 399 / 255 reads back as a.
    hu = -160 + a * (399 / 255)
    ct = write_dicom(
        tmp_path / "ct.dcm", np.rint(hu + 1024), 16, Modality="CT", RescaleIntercept=-1024, RescaleSlope=1
    )
    add("CT DICOM, data.window", ct, PreprocessSettings(image_size=32, window=(40, 400)))
    nii = tmp_path / "p.nii.gz"
    nib.save(nib.Nifti1Image(np.rot90(a, -1).copy(), np.eye(4)), nii)  # read_image shows rot90 of the slice
    add("uint8 NIfTI", nii)
    return files


def test_every_format_gives_the_same_model_input(tmp_path: Path) -> None:
    a = _picture()
    files = _writers(tmp_path, a)
    reference = load_preprocessed(files["8-bit PNG"][0], SETTINGS).astype(int)
    assert reference.min() > 0 and reference.max() < 255  # min-max scaling would have stretched it
    for name, (path, settings) in files.items():
        got = load_preprocessed(path, settings).astype(int)
        assert np.abs(got - reference).max() <= 1, f"{name} differs from the 8-bit PNG by more than 1/255"


def test_window_changes_only_what_it_should(tmp_path: Path) -> None:
    a = _picture()
    files = _writers(tmp_path, a)
    ct, _ = files["CT DICOM, data.window"]
    wide = load_preprocessed(ct, PreprocessSettings(image_size=32, window=(40, 2000))).astype(int)
    narrow = load_preprocessed(ct, PreprocessSettings(image_size=32, window=(40, 400))).astype(int)
    assert wide.std() < narrow.std()  # a wider window, less contrast
    with pytest.raises(ValueError, match="width"):
        PreprocessSettings(image_size=32, window=(40, 0))
    assert "window" not in SETTINGS.to_dict()  # unset: the cache keys of runs without a window are unchanged
    assert PreprocessSettings.from_dict({"image_size": 32, "window": [40, 400]}).window == (40.0, 400.0)
