"""Small valid files of every format medclass reads, and Hypothesis strategies that mutate them.

The budget follows ``HYPOTHESIS_PROFILE``: unset (``make test``), each fuzz test runs the few examples it asks
for, derandomized (the same examples every run); ``fuzz`` (``make fuzz``), every test runs ``FUZZ_EXAMPLES``
(default 3000) examples from a random seed, which Hypothesis prints with a failure (``--hypothesis-seed``).
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import zipfile
import zlib
from functools import cache

import nibabel as nib
import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import dcmread
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    RLELossless,
    SecondaryCaptureImageStorage,
    generate_uid,
)

FUZZ = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"
settings.register_profile(
    "medclass-test",
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.register_profile(
    "fuzz",
    settings.get_profile("medclass-test"),
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "3000")),
    derandomize=False,
    print_blob=True,
)


def budget(examples: int) -> settings:
    """The settings of one fuzz test: ``examples`` in ``make test``, the ``fuzz`` profile's in ``make fuzz``."""
    if FUZZ:
        return settings(settings.get_profile("fuzz"))
    return settings(settings.get_profile("medclass-test"), max_examples=examples)


# Values that break parsers when written over a header field (sizes, counts, offsets, bit depths).
INTERESTING = (0, 1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 64, 127, 128, 255, 256, 4095, 32767, 32768, 65535, 65536)
INTERESTING += (2**31 - 1, 2**31, 2**32 - 1)


def pack(value: int, width: int, big: bool) -> bytes:
    return (value % (1 << (8 * width))).to_bytes(width, "big" if big else "little")


@st.composite
def mutated(draw: st.DrawFn, seed: bytes, header: int = 512, max_ops: int = 4) -> bytes:
    """``seed`` after 1 to ``max_ops`` byte-level mutations: bit flips, an interesting value written over the
    first ``header`` bytes (a header field edit), inserted, deleted or duplicated bytes, truncation."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, max_ops))):
        op = draw(st.sampled_from(("flip", "field", "insert", "delete", "truncate", "duplicate")))
        n = len(data)
        if op == "flip" and n:
            data[draw(st.integers(0, n - 1))] ^= 1 << draw(st.integers(0, 7))
        elif op == "field" and n:
            width = draw(st.sampled_from((1, 2, 4)))
            value = pack(draw(st.sampled_from(INTERESTING)), width, draw(st.booleans()))
            pos = draw(st.integers(0, max(0, min(n, header) - 1)))
            data[pos : pos + width] = value
        elif op == "insert":
            data[draw(st.integers(0, n)) : 0] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete" and n:
            pos = draw(st.integers(0, n - 1))
            del data[pos : pos + draw(st.integers(1, 32))]
        elif op == "truncate":
            del data[draw(st.integers(0, n)) :]
        elif op == "duplicate" and n:
            pos = draw(st.integers(0, n - 1))
            chunk = data[pos : pos + draw(st.integers(1, 64))]
            data[draw(st.integers(0, n)) : 0] = chunk
    return bytes(data)


def fix_png_crcs(data: bytes) -> bytes:
    """``data`` with the CRC of every complete PNG chunk recomputed, so that a mutation reaches the decoder
    instead of stopping at Pillow's CRC check."""
    out, pos = bytearray(data), 8
    while pos + 12 <= len(out):
        length = int.from_bytes(out[pos : pos + 4], "big")
        end = pos + 8 + length
        if end + 4 > len(out):
            break
        out[end : end + 4] = struct.pack(">I", zlib.crc32(bytes(out[pos + 4 : end])))
        pos = end + 4
    return bytes(out)


# ---- seeds: one small valid file per format and flavour -------------------------------------------------


def _pil_bytes(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _rng_image(mode: str, size: tuple[int, int] = (12, 9)) -> Image.Image:
    rng = np.random.default_rng(len(mode))
    w, h = size
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 65535, (h, w), dtype=np.uint16))
    if mode == "F":
        values = rng.normal(size=(h, w)).astype(np.float32)
        values[0, 0] = np.nan
        return Image.fromarray(values)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).convert(mode)


@cache
def pil_seeds() -> dict[str, list[bytes]]:
    """Valid PNG, JPEG, TIFF and BMP files of several modes (suffix -> files)."""
    exif = Image.Exif()
    exif[0x0112] = 6  # EXIF orientation: rotate, width and height swap
    palette = _rng_image("P")
    palette_trns = _pil_bytes(palette, "PNG", transparency=3)
    tiff_pages = io.BytesIO()
    _rng_image("L").save(tiff_pages, "TIFF", save_all=True, append_images=[_rng_image("L")])
    return {
        ".png": [
            _pil_bytes(_rng_image("L"), "PNG"),
            _pil_bytes(_rng_image("RGBA"), "PNG"),
            _pil_bytes(_rng_image("I;16"), "PNG"),
            palette_trns,
            _pil_bytes(_rng_image("RGB"), "PNG", exif=exif),
        ],
        ".jpg": [
            _pil_bytes(_rng_image("L"), "JPEG"),
            _pil_bytes(_rng_image("RGB"), "JPEG", exif=exif),
            _pil_bytes(_rng_image("RGB"), "JPEG", progressive=True),
        ],
        ".tif": [
            _pil_bytes(_rng_image("L"), "TIFF"),
            _pil_bytes(_rng_image("I;16"), "TIFF"),
            _pil_bytes(_rng_image("F"), "TIFF"),
            _pil_bytes(_rng_image("RGB"), "TIFF", compression="tiff_deflate"),
            tiff_pages.getvalue(),
        ],
        ".bmp": [_pil_bytes(_rng_image("RGB"), "BMP"), _pil_bytes(_rng_image("P"), "BMP")],
    }


def dicom_dataset(kind: str) -> Dataset:
    """A small valid DICOM data set: ``"16bit"`` (rescale and window), ``"mono1"`` (8-bit MONOCHROME1),
    ``"frames"`` (3 frames), ``"rgb"`` or ``"deflated"`` (the whole data set deflated)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[kind])
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian if kind == "deflated" else ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT" if kind == "16bit" else "OT"
    ds.Rows, ds.Columns = 9, 12
    rng = np.random.default_rng(1)
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    if kind in ("16bit", "deflated", "frames"):
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        frames = 3 if kind == "frames" else 1
        if frames > 1:
            ds.NumberOfFrames = frames
        ds.PixelData = rng.integers(0, 4096, (frames, 9, 12), dtype=np.uint16).tobytes()
        if kind == "16bit":
            ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
            ds.WindowCenter, ds.WindowWidth = 40, 400
    elif kind == "mono1":
        ds.PhotometricInterpretation = "MONOCHROME1"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        ds.PixelData = rng.integers(0, 256, (9, 12), dtype=np.uint8).tobytes()
    else:  # rgb
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        ds.PixelData = rng.integers(0, 256, (9, 12, 3), dtype=np.uint8).tobytes()
    return ds


def dicom_bytes(ds: Dataset) -> bytes:
    buffer = DicomBytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


DICOM_KINDS = ("16bit", "mono1", "frames", "rgb", "deflated", "rle")


@cache
def dicom_seeds() -> dict[str, bytes]:
    """Each kind of :func:`dicom_dataset`, and ``"rle"``: the 3 frames RLE Lossless compressed."""
    seeds = {kind: dicom_bytes(dicom_dataset(kind)) for kind in DICOM_KINDS if kind != "rle"}
    frames = dicom_dataset("frames")
    frames.compress(RLELossless)
    return {**seeds, "rle": dicom_bytes(frames)}


# DICOM header fields and values that decoders trip over.
DICOM_FIELDS = {
    "Rows": [0, 1, 2, 65535],
    "Columns": [0, 1, 3, 65535],
    "BitsAllocated": [0, 1, 8, 12, 16, 32, 64],
    "BitsStored": [0, 1, 7, 8, 16, 17, 32],
    "HighBit": [0, 7, 15, 31],
    "PixelRepresentation": [0, 1, 2],
    "SamplesPerPixel": [0, 1, 2, 3, 4],
    "PlanarConfiguration": [0, 1, 2],
    "NumberOfFrames": [0, 1, 2, 4, 1000],
    "PhotometricInterpretation": ["MONOCHROME1", "RGB", "YBR_FULL", "YBR_FULL_422", "PALETTE COLOR", "X"],
    "RescaleSlope": [0, -1, 1e-30, 1e30],
    "RescaleIntercept": [-1e30, 0, 1e30],
    "WindowCenter": [0, -1e9, 1e9],
    "WindowWidth": [0, 1, -5, 1e-9],
}


@st.composite
def dicom_files(draw: st.DrawFn) -> bytes:
    """A DICOM seed with 0 to 3 header fields changed (or deleted), then 0 to 3 byte-level mutations."""
    kind = draw(st.sampled_from(DICOM_KINDS))
    edits = draw(st.lists(st.sampled_from(sorted(DICOM_FIELDS)), max_size=3, unique=True))
    data = dicom_seeds()[kind]
    if edits:
        ds = dcmread(DicomBytesIO(data))
        for keyword in edits:
            value = draw(st.sampled_from([None, *DICOM_FIELDS[keyword]]))
            if value is None:
                if keyword in ds:
                    delattr(ds, keyword)
            else:
                setattr(ds, keyword, value)
        data = dicom_bytes(ds)
    if draw(st.booleans()):
        data = draw(mutated(data, header=1024, max_ops=3))
    return data


@cache
def nifti_seeds() -> list[bytes]:
    """Uncompressed single-file NIfTI-1: an int16 3D volume with cal_min/cal_max, a float32 4D series, a uint8
    2D image and an RGB24 volume."""
    rng = np.random.default_rng(2)
    volumes = [
        nib.Nifti1Image(rng.integers(-1000, 2000, (12, 9, 5), dtype=np.int16), np.eye(4)),
        nib.Nifti1Image(rng.normal(size=(12, 9, 4, 2)).astype(np.float32), np.eye(4)),
        nib.Nifti1Image(rng.integers(0, 256, (12, 9), dtype=np.uint8), np.eye(4)),
    ]
    volumes[0].header["cal_min"], volumes[0].header["cal_max"] = -200, 300
    rgb = np.zeros((12, 9, 3), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    volumes.append(nib.Nifti1Image(rgb, np.eye(4)))
    return [volume.to_bytes() for volume in volumes]


# NIfTI-1 header fields: (byte offset, struct format) of dim[0..7], datatype, bitpix, vox_offset, scl_slope,
# scl_inter, cal_max and cal_min.
NIFTI_FIELDS = [(40 + 2 * i, "<h") for i in range(8)] + [
    (70, "<h"),
    (72, "<h"),
    (108, "<f"),
    (112, "<f"),
    (116, "<f"),
    (124, "<f"),
    (128, "<f"),
]
NIFTI_VALUES = (0, 1, 2, 3, 4, 7, 8, 16, 64, 128, 255, 256, 511, 768, 1000, 2304, 32767, -1, -32768)
NIFTI_FLOATS = (0.0, -1.0, 1e-30, 1e30, float("nan"), float("inf"), 352.0, 1e9)


@st.composite
def nifti_files(draw: st.DrawFn) -> tuple[bytes, bool]:
    """``(bytes, gzipped)``: a NIfTI seed with header fields edited and bytes mutated, maybe gzipped."""
    data = bytearray(draw(st.sampled_from(nifti_seeds())))
    for offset, fmt in draw(st.lists(st.sampled_from(NIFTI_FIELDS), max_size=3)):
        value = draw(st.sampled_from(NIFTI_FLOATS if fmt == "<f" else NIFTI_VALUES))
        struct.pack_into(fmt, data, offset, value)
    raw = draw(mutated(bytes(data), header=352, max_ops=3)) if draw(st.booleans()) else bytes(data)
    gzipped = draw(st.booleans())
    if gzipped:
        raw = gzip.compress(raw, mtime=0)
        if draw(st.booleans()):
            raw = raw[: draw(st.integers(0, len(raw)))]
    return raw, gzipped


def npz_seed() -> bytes:
    """A MedMNIST-style archive, stored (not deflated) so that byte mutations reach the ``.npy`` headers."""
    rng = np.random.default_rng(3)
    buffer = io.BytesIO()
    arrays = {
        "train_images": rng.integers(0, 256, (3, 9, 12), dtype=np.uint8),
        "train_labels": np.array([[0], [1], [0]], np.uint8),
        "test_images": rng.integers(0, 256, (2, 9, 12), dtype=np.uint8),
        "test_labels": np.array([1, 0], np.int64),
    }
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w") as handle:
                np.lib.format.write_array(handle, array)
    return buffer.getvalue()


def deflated_npz_seed() -> bytes:
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(npz_seed())) as source,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out,
    ):
        for info in source.infolist():
            out.writestr(info.filename, source.read(info))
    return buffer.getvalue()


@st.composite
def any_image_file(draw: st.DrawFn) -> tuple[str, bytes]:
    """``(suffix, bytes)`` of a mutated file of any image format the server accepts (for the HTTP fuzzing)."""
    choice = draw(st.sampled_from(("pil", "dicom", "nifti")))
    if choice == "dicom":
        return ".dcm", draw(dicom_files())
    if choice == "nifti":
        data, gzipped = draw(nifti_files())
        return (".nii.gz" if gzipped else ".nii"), data
    suffix = draw(st.sampled_from(sorted(pil_seeds())))
    data = draw(mutated(draw(st.sampled_from(pil_seeds()[suffix]))))
    return suffix, fix_png_crcs(data) if suffix == ".png" and draw(st.booleans()) else data


def intact_image_file() -> st.SearchStrategy[tuple[str, bytes]]:
    """``(suffix, bytes)`` of one of the valid seed files (an upload the server answers with a decision)."""
    files = [(suffix, data) for suffix, seeds in pil_seeds().items() for data in seeds]
    files += [(".dcm", data) for data in dicom_seeds().values()]
    files += [(".nii", data) for data in nifti_seeds()]
    return st.sampled_from(files)
