"""Small uncompressed DICOM files (Secondary Capture) for the reader tests and the serve benchmarks."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid


def write_dicom(
    target: Path | io.BytesIO, stored: np.ndarray, bits: int = 16, **attributes: Any
) -> Path | io.BytesIO:
    """Write ``stored`` (``rows x columns``, or ``frames x rows x columns``) as a grey DICOM with ``bits`` stored
    bits (8 allocated up to 8, else 16), then any data-set ``attributes`` (``Modality``, ``RescaleSlope``,
    ``PhotometricInterpretation``, ...) over the defaults; returns ``target``."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "OT"
    if stored.ndim == 3:
        ds.NumberOfFrames = stored.shape[0]
    ds.Rows, ds.Columns = stored.shape[-2:]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    allocated = 8 if bits <= 8 else 16
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = allocated, bits, bits - 1, 0
    for key, value in attributes.items():
        setattr(ds, key, value)
    ds.PixelData = stored.astype(np.uint8 if allocated == 8 else np.uint16).tobytes()
    ds.save_as(target, enforce_file_format=True)
    return target
