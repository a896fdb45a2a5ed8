"""Tiny files that declare huge images (resource bombs), for the declared-size limit tests.

Each declares 12000 x 12000 pixels (144,000,000, above the limit of 89,478,485) and is small on disk.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import DeflatedExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from medclass.data.limits import MAX_IMAGE_PIXELS

SIDE = 12000
# What every reader says of a SIDE x SIDE bomb.
MESSAGE = f"image too large: {SIDE} x {SIDE} pixels ({SIDE * SIDE:,}); the limit is {MAX_IMAGE_PIXELS:,}"
# A 1 KB YAML document whose aliases expand to 10**9 values.
YAML_BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8)
)


def dicom_bomb(path: Path, side: int = SIDE, frames: int = 1) -> Path:
    """A deflated DICOM (whole data set deflated) of ``frames`` black ``side x side`` 8-bit frames."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "OT"
    ds.Rows = ds.Columns = side
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = bytes(side * side * frames)
    ds.save_as(path, enforce_file_format=True)
    return path


def nifti_bomb(path: Path, side: int = SIDE) -> Path:
    """A gzipped NIfTI of one black ``side x side`` uint8 slice."""
    nib.save(nib.Nifti1Image(np.zeros((side, side, 1), np.uint8), np.eye(4)), path)
    return path


def tiff_bomb(path: Path, side: int = SIDE, pages: int = 3) -> Path:
    """A multi-page bilevel TIFF (CCITT group 4) whose pages are ``side x side`` white."""
    page = Image.new("1", (side, side), 1)
    page.save(path, compression="group4", save_all=True, append_images=[page] * (pages - 1))
    return path


def png_bomb(path: Path, side: int = SIDE) -> Path:
    """A bilevel PNG of ``side x side``."""
    Image.new("1", (side, side), 0).save(path)
    return path


def npz_bomb(path: Path, side: int = SIDE) -> Path:
    """A MedMNIST-style ``.npz`` with one ``side x side`` training image, deflated."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in (
            ("train_images", np.zeros((1, side, side), np.uint8)),
            ("train_labels", np.zeros(1, np.uint8)),
        ):
            with archive.open(f"{name}.npy", "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, array)
    return path


# One bomb per format whose header declares SIDE x SIDE, by file name.
MAKERS = {"bomb.dcm": dicom_bomb, "bomb.nii.gz": nifti_bomb, "bomb.tif": tiff_bomb, "bomb.png": png_bomb}


def make_all(root: Path) -> dict[str, Path]:
    """Every bomb of :data:`MAKERS` in ``root``, by file name."""
    return {name: make(root / name) for name, make in MAKERS.items()}
