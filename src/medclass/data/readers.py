"""Read any supported image file into a ``uint8`` ``H x W x C`` array, the same way every time.

Formats: JPEG, PNG (8 and 16 bit), BMP, TIFF (through Pillow), DICOM (pydicom) and NIfTI (nibabel). The
extension decides the reader, in any case (``.JPG``, ``.Nii.Gz``).

Intensity and colour rules (every reader ends in the same two steps: intensities to ``uint8``, then channels):

* **8-bit Pillow modes** keep their values. Palette images (``P``, ``PA``) become ``RGB``/``RGBA`` first;
  ``CMYK``, ``YCbCr``, ``LAB`` and ``HSV`` become ``RGB``; bilevel (``1``) becomes ``L`` (0 or 255).
* **Transparency** (an alpha channel, or a ``tRNS`` transparent colour/palette entry) is composited over
  **black**, because medical images have black backgrounds: ``out = round(value * alpha / 255)``.
* **EXIF orientation** is applied (``ImageOps.exif_transpose``) before anything else.
* **Intensity scale: the stored value range, never the image's own minimum and maximum**, so that the same
  picture gives the same pixels whatever the file format, and a darker scan stays darker than a brighter one.
  ``out = round(255 * (x - lo) / (hi - lo))`` clipped to 0-255, where ``[lo, hi]`` is the range the format
  can store: 8-bit files keep their values (``[0, 255]``); 16-bit PNG/TIFF (Pillow ``I;16*``) use
  ``[0, 65535]`` (so a 16-bit copy of an 8-bit picture, ``v * 257``, reads back as ``v``); Pillow ``I``
  (32-bit integer) uses ``[0, 65535]`` when its values fit (Pillow opens some 16-bit files in this mode).
  Data that carries no stored range (float TIFF ``F``, 32-bit integers beyond 16 bits, NIfTI without
  ``cal_min``/``cal_max``) fall back to the per-image min-max rule over the finite values, ``lo = min`` and
  ``hi = max``: give such data a window (``data.window``) for a fixed scale. NaN/inf pixels become 0; a
  constant image under min-max becomes all zeros.
* **DICOM**: the modality LUT (``RescaleSlope``/``RescaleIntercept`` or a Modality LUT Sequence) is applied
  first (``pydicom.pixels.apply_modality_lut``), then the VOI transform (``apply_voi_lut``): the window
  ``data.window: [center, width]`` when set (for CT, in Hounsfield units), else the file's own
  ``WindowCenter``/``WindowWidth`` (the first one if several) or VOI LUT, else none. The result is scaled by
  the stored value range of the file (``BitsStored`` and ``PixelRepresentation`` through the modality LUT,
  as pydicom computes it), so an 8-bit DICOM keeps its values and a 16-bit one is divided by 257.
  ``MONOCHROME1`` (white is low) is inverted last (``255 - out``) so that every image has a dark
  background. Colour DICOM (``SamplesPerPixel = 3``) is read as RGB (pydicom converts YBR), scaled by its
  stored range. Multi-frame files give the middle frame, or frame ``slice_index``.
* **NIfTI**: values after the header's ``scl_slope``/``scl_inter``; ``data.window`` when set, else
  ``cal_min``/``cal_max`` when the header has them, else ``uint8`` data keeps its values, else min-max over
  the slice (NIfTI stores no display range of its own). Singleton trailing axes are dropped; a 3D volume gives the middle slice of its **last** axis (or
  ``slice_index``); a 4D series uses its first volume, then the same rule. A 2D slice ``a`` (file axes
  ``i, j``) is shown as ``np.rot90(a)`` (rows = ``j`` with ``+j`` up, columns = ``i``), the usual way of
  displaying a voxel slice; no reorientation to RAS is done, so ``slice_index`` counts along the file's own
  axis.
* **Channels**: ``channels=1`` from colour uses ITU-R 601-2 luma (``Image.convert("L")``:
  ``L = R*299/1000 + G*587/1000 + B*114/1000``); ``channels=3`` from grey repeats the grey channel.

Size: the rows and columns a file declares (image header, DICOM ``Rows``/``Columns``, NIfTI dims) are checked
against :data:`medclass.data.limits.MAX_IMAGE_PIXELS` before anything is decoded; a file over it raises
:class:`ImageTooLarge` (``image too large: 12000 x 12000 pixels (144,000,000); the limit is 89,478,485``). Only
one plane is decoded: the first TIFF page, one DICOM frame, one NIfTI slice.

Failures: every problem with a file (missing, empty, not an image, truncated, undecodable, out-of-range slice)
raises :class:`UnreadableImage` with a short human reason; no other exception type escapes ``read_image`` or
``image_info``. Truncated files are detected because Pillow's ``LOAD_TRUNCATED_IMAGES`` is left off.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from medclass.config.schema import IMAGE_EXTENSIONS
from medclass.data.files import file_problem
from medclass.data.limits import too_large
from medclass.data.npz import member_pixels, parse_member
from medclass.utils.errors import DataError

_DICOM_SUFFIXES = (".dcm", ".dicom")
_NIFTI_SUFFIXES = (".nii", ".nii.gz")
# Pillow modes whose colour channels are converted to RGB before anything else.
_TO_RGB_MODES = {"CMYK", "YCbCr", "LAB", "HSV"}
# Pillow modes that carry more than 8 bits per sample (or floats) and go through the min-max rule.
_WIDE_MODES = {"I", "F", "I;16", "I;16L", "I;16B", "I;16N", "I;16S", "I;32", "I;32B", "I;32L"}
_REASON_MAX = 160
_FORMAT_BY_SUFFIX = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
_KIND_NAMES = {"pil": "image", "dicom": "DICOM", "nifti": "NIfTI"}


class UnreadableImage(Exception):
    """A file that cannot be read as an image.

    Attributes:
        path: The file.
        reason: Short human text, e.g. ``"empty file"``, ``"truncated JPEG"``, ``"not an image: ..."``.
    """

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # keep both fields when sent back from a worker process
        return (type(self), (self.path, self.reason))


class ImageTooLarge(UnreadableImage):
    """A file whose header declares more pixels than :data:`medclass.data.limits.MAX_IMAGE_PIXELS`."""


@dataclass(frozen=True)
class ImageInfo:
    """Header facts about an image file.

    ``width``/``height`` are those of the array ``read_image`` returns (EXIF rotation included). ``mode`` is
    the Pillow mode (``"L"``, ``"RGB"``, ``"RGBA"``, ``"P"``, ``"I;16"``, ``"CMYK"``, ...), or
    ``"DICOM <photometric interpretation>"``, or ``"NIfTI <dtype>"``. ``format`` is ``"JPEG"``, ``"PNG"``,
    ..., ``"DICOM"``, ``"NIfTI"``.
    """

    width: int
    height: int
    mode: str
    format: str


def is_image_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a supported image file, judged by its suffix (any case).

    Hidden files (name starting with ``.``, e.g. ``.DS_Store`` or ``._scan.jpg``) are never images.

    Example:
        >>> is_image_file("a/B.JPG"), is_image_file("vol.nii.gz"), is_image_file(".x.png")
        (True, True, False)
    """
    if parse_member(path) is not None:
        return True
    name = Path(path).name
    if not name or name.startswith("."):
        return False
    lower = name.lower()
    return any(lower.endswith(ext) for ext in IMAGE_EXTENSIONS)


def _kind(path: Path) -> str:
    lower = path.name.lower()
    if lower.endswith(_DICOM_SUFFIXES):
        return "dicom"
    if lower.endswith(_NIFTI_SUFFIXES):
        return "nifti"
    return "pil"


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= _REASON_MAX else text[: _REASON_MAX - 3] + "..."


def _npz_pixels(path: Path) -> np.ndarray:
    """The pixels of an image inside a ``.npz`` file (``data.npz`` member path)."""
    try:
        return member_pixels(path)
    except DataError as exc:
        raise UnreadableImage(path, str(exc).split(": ", 1)[-1]) from None


def _check_size(path: Path, dims: tuple[int, ...]) -> None:
    """Refuse a declared size (rows, columns) over the limit, before anything is decoded."""
    reason = too_large(dims)
    if reason is not None:
        raise ImageTooLarge(path, reason)


def _pil_bomb(path: Path, exc: Exception) -> ImageTooLarge:
    """Pillow's own refusal (beyond twice its limit, at open) in the words of :func:`too_large`."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    pixels = int(found[1]) if found else 0
    return ImageTooLarge(path, too_large((pixels,)) or f"image too large: {_short(exc)}")


def _check_file(path: Path) -> None:
    problem = file_problem(path)  # before any decoder opens it: a FIFO or a device would block the open
    if problem is not None:
        raise UnreadableImage(path, problem)
    member = parse_member(path)
    if (member[0] if member else path).stat().st_size == 0:
        raise UnreadableImage(path, "empty file")


def scale_to_uint8(values: np.ndarray) -> np.ndarray:
    """Per-image min-max scaling to ``uint8`` over the finite values (see the module docstring).

    Non-finite values become 0; a constant or all-non-finite image becomes all zeros.
    """
    x = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(x)
    out = np.zeros(x.shape, dtype=np.uint8)
    if not finite.any():
        return out
    lo, hi = float(x[finite].min()), float(x[finite].max())
    if hi <= lo:
        return out
    scaled = np.rint((x[finite] - lo) * (255.0 / (hi - lo)))
    out[finite] = np.clip(scaled, 0, 255).astype(np.uint8)
    return out


def scale_range(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``round(255 * (x - lo) / (hi - lo))`` clipped to ``uint8``; non-finite values become 0."""
    x = np.asarray(values, dtype=np.float64)
    if not hi > lo:
        return np.zeros(x.shape, dtype=np.uint8)
    out = np.rint((x - lo) * (255.0 / (hi - lo)))
    return np.clip(np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0), 0, 255).astype(np.uint8)


def window_range(center: float, width: float) -> tuple[float, float]:
    """The values a linear DICOM window (PS3.3 C.11.2.1.2.1) maps onto the full output range."""
    return center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2


def _wide_to_uint8(array: np.ndarray) -> np.ndarray:
    """Pillow's wide modes by their stored range (16 bits), or min-max where there is none."""
    if array.dtype.kind in "ui" and array.size and array.min() >= 0 and array.max() <= 65535:
        return scale_range(array, 0, 65535)
    return scale_to_uint8(array)


def _composite_over_black(array: np.ndarray) -> np.ndarray:
    """``H x W x (1+1 | 3+1)`` uint8 with alpha last -> colour channels multiplied by alpha, rounded."""
    colour = array[..., :-1].astype(np.uint16)
    alpha = array[..., -1:].astype(np.uint16)
    return ((colour * alpha + 127) // 255).astype(np.uint8)


def _to_channels(array: np.ndarray, channels: int) -> np.ndarray:
    """``H x W x {1,3}`` uint8 -> ``H x W x channels``: luma for colour -> grey, repeat for grey -> colour."""
    if array.shape[2] == channels:
        return np.ascontiguousarray(array)
    if channels == 3:
        return np.ascontiguousarray(np.repeat(array, 3, axis=2))
    grey = Image.fromarray(np.ascontiguousarray(array), "RGB").convert("L")
    return np.asarray(grey)[..., None]


def _pil_to_array(image: Image.Image, channels: int) -> np.ndarray:
    """A loaded Pillow image -> ``H x W x {1,3}`` uint8 following the module's rules.

    ``channels`` only lets an opaque RGB image go to grey inside Pillow; the caller still applies
    :func:`_to_channels`.
    """
    mode = image.mode
    has_trns = image.info.get("transparency") is not None
    if mode in ("P", "PA"):
        image = image.convert("RGBA" if (has_trns or mode == "PA") else "RGB")
    elif mode in ("1", "L") and has_trns:
        image = image.convert("LA")
    elif mode == "RGB" and has_trns:
        image = image.convert("RGBA")
    elif mode == "1":
        image = image.convert("L")
    elif mode in _TO_RGB_MODES:
        image = image.convert("RGB")
    elif mode == "RGBa":
        image = image.convert("RGBA")
    elif mode == "La":
        image = image.convert("LA")
    elif mode in _WIDE_MODES:
        return _wide_to_uint8(np.asarray(image))[..., None]

    if image.mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGB")  # any other mode Pillow can convert
    if image.mode == "RGB" and channels == 1:
        image = image.convert("L")  # the luma rule of _to_channels, without a round trip through numpy
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    if image.mode in ("LA", "RGBA"):
        array = _composite_over_black(array)
    return array


def _read_pil(path: Path, channels: int) -> np.ndarray:
    fmt = _FORMAT_BY_SUFFIX.get(path.suffix.lower(), path.suffix.lstrip(".").upper())
    try:
        image = Image.open(path)
    except UnidentifiedImageError:
        raise UnreadableImage(path, "not an image: cannot identify image file") from None
    except Image.DecompressionBombError as exc:
        raise _pil_bomb(path, exc) from None
    except Exception as exc:  # a header Pillow recognised but could not parse
        if "truncat" in str(exc).lower() or isinstance(exc, EOFError):
            raise UnreadableImage(path, f"truncated {fmt}") from None
        raise UnreadableImage(path, f"corrupt {fmt}: {_short(exc)}") from None
    with image:
        fmt = image.format or fmt
        _check_size(path, (image.height, image.width))  # the first page or frame: the only one decoded
        try:
            image.load()
        except Exception as exc:
            if "truncat" in str(exc).lower() or isinstance(exc, EOFError):
                raise UnreadableImage(path, f"truncated {fmt}") from None
            raise UnreadableImage(path, f"corrupt {fmt}: {_short(exc)}") from None
        ImageOps.exif_transpose(image, in_place=True)
        return _pil_to_array(image, channels)


def _pick(n: int, slice_index: int | None, what: str) -> int:
    if slice_index is None:
        return n // 2
    if not 0 <= slice_index < n:
        raise ValueError(f"slice_index {slice_index} out of range 0-{n - 1} ({what} has {n})")
    return slice_index


def _stored_range(ds) -> tuple[float, float]:
    """The values the file can hold after its modality LUT (the output range pydicom's windowing uses)."""
    if ds.get("ModalityLUTSequence"):
        return 0.0, float(2 ** int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1)
    bits = int(ds.get("BitsStored") or ds.get("BitsAllocated") or 16)
    if int(ds.get("PixelRepresentation", 0)) == 0:
        lo, hi = 0.0, float(2**bits - 1)
    else:
        lo, hi = float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    if slope is not None and intercept is not None:
        lo, hi = sorted((lo * float(slope) + float(intercept), hi * float(slope) + float(intercept)))
    return lo, hi


def _dicom_voi(values: np.ndarray, ds, window: tuple[float, float] | None) -> tuple[np.ndarray, float, float]:
    """The VOI transform (given window, else the file's window or LUT, else none) and its output range."""
    from pydicom.pixels import apply_voi_lut

    lo, hi = _stored_range(ds)
    if window is not None:
        ds = copy.copy(ds)  # the given window replaces the file's own VOI for this read only
        for keyword in ("VOILUTSequence", "VOILUTFunction"):
            if keyword in ds:
                delattr(ds, keyword)
        ds.WindowCenter, ds.WindowWidth = float(window[0]), float(window[1])
    elif "VOILUTSequence" in ds and "WindowCenter" not in ds:
        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        return apply_voi_lut(values, ds), 0.0, float(2**bits - 1)
    elif "WindowCenter" not in ds or "WindowWidth" not in ds:
        return values, lo, hi
    return apply_voi_lut(values, ds, prefer_lut=False), lo, hi


def _dicom_header(path: Path):
    """The data set up to its pixel data (a deflated file is inflated only that far), its size checked."""
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except pydicom.errors.InvalidDicomError as exc:
        raise UnreadableImage(path, f"not a DICOM file: {_short(exc)}") from None
    if "Rows" in ds and "Columns" in ds:
        _check_size(path, (int(ds.Rows or 0), int(ds.Columns or 0)))  # one frame: the only one decoded
    return ds


def _read_dicom(path: Path, slice_index: int | None, window: tuple[float, float] | None) -> np.ndarray:
    import pydicom
    from pydicom.pixels import apply_modality_lut

    header = _dicom_header(path)
    frames = int(header.get("NumberOfFrames", 1) or 1)
    try:
        frame = _pick(frames, slice_index, "the file's frame count") if frames > 1 else None
    except ValueError as exc:
        raise UnreadableImage(path, str(exc)) from None
    ds = pydicom.dcmread(path)
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise UnreadableImage(path, "DICOM file without pixel data")
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    samples = int(ds.get("SamplesPerPixel", 1))
    if frame is not None:
        ds.pixel_array_options(index=frame)  # decode that frame only
    pixels = ds.pixel_array
    if samples == 3:  # colour: already RGB (pydicom converts YBR); scaled by the stored range
        if pixels.dtype == np.uint8:
            return np.ascontiguousarray(pixels)
        return scale_range(pixels, *_stored_range(ds))
    values, lo, hi = _dicom_voi(apply_modality_lut(pixels, ds), ds, window)
    out = scale_range(values, lo, hi)
    if photometric == "MONOCHROME1":
        out = 255 - out
    return out[..., None]


def _nifti_to_uint8(plane: np.ndarray, header, window: tuple[float, float] | None) -> np.ndarray:
    if window is not None:
        return scale_range(plane, *window_range(*window))
    cal = (float(header.get("cal_min", 0) or 0), float(header.get("cal_max", 0) or 0))
    if cal[1] > cal[0]:
        return scale_range(plane, *cal)
    if plane.dtype == np.uint8:
        return np.ascontiguousarray(plane)
    return scale_to_uint8(plane)


def _read_nifti(path: Path, slice_index: int | None, window: tuple[float, float] | None) -> np.ndarray:
    import nibabel as nib

    try:
        image = nib.load(path)
    except nib.filebasedimages.ImageFileError as exc:
        raise UnreadableImage(path, f"not a NIfTI file: {_short(exc)}") from None
    if len(image.shape) >= 2:  # the slice shown is np.rot90 of an (i, j) plane: j rows, i columns
        _check_size(path, (int(image.shape[1]), int(image.shape[0])))
    shape = list(image.shape)
    while len(shape) > 2 and shape[-1] == 1:
        shape.pop()
    index: list[int | slice] = [slice(None), slice(None)]
    if len(shape) >= 3:
        try:
            z = _pick(shape[2], slice_index, "the last axis")
        except ValueError as exc:
            raise UnreadableImage(path, str(exc)) from None
        index.append(z)
    index += [0] * (len(image.shape) - len(index))  # first volume of a series, singleton axes
    if len(shape) < 2:
        raise UnreadableImage(path, f"NIfTI of shape {tuple(image.shape)} is not an image")
    plane = np.asarray(image.dataobj[tuple(index)])
    if plane.dtype.names:  # RGB24 / RGBA32 structured voxels: 8 bits per channel
        plane = np.stack([plane[name] for name in plane.dtype.names[:3]], axis=-1)
        return np.ascontiguousarray(np.rot90(plane.astype(np.uint8)))
    return np.ascontiguousarray(np.rot90(_nifti_to_uint8(plane, image.header, window)))[..., None]


def read_image(
    path: str | os.PathLike,
    channels: int = 1,
    slice_index: int | None = None,
    window: tuple[float, float] | None = None,
) -> np.ndarray:
    """Decode an image file into a ``uint8`` array of shape ``H x W x channels``.

    Args:
        path: JPEG, PNG, BMP, TIFF, DICOM or NIfTI file (extension in any case).
        channels: 1 (grey, ITU-R 601-2 luma from colour) or 3 (RGB, grey repeated).
        slice_index: NIfTI slice along the last axis / DICOM frame; default the middle one.
        window: ``(center, width)`` of a linear window on DICOM values after the modality LUT (CT: HU) and on
            NIfTI values; None: the file's own window or stored range (see the module docstring).

    Returns:
        ``np.ndarray`` of dtype ``uint8``, shape ``(H, W, channels)``; see the module docstring for the rules.

    Raises:
        UnreadableImage: missing, empty, truncated or undecodable file, or ``slice_index`` out of range.
        ValueError: ``channels`` is not 1 or 3 (a programming error, not a file problem).

    Example:
        >>> read_image("scan.png", channels=3).shape  # doctest: +SKIP
        (256, 256, 3)
    """
    if channels not in (1, 3):
        raise ValueError(f"channels = {channels!r}: must be 1 or 3")
    path = Path(path)
    _check_file(path)
    if parse_member(path) is not None:
        return _to_channels(_npz_pixels(path), channels)
    kind = _kind(path)
    try:
        # Decoder warnings (odd but readable files) are left to the caller's warning filters:
        # warnings.catch_warnings() would not be thread-safe here.
        if kind == "dicom":
            array = _read_dicom(path, slice_index, window)
        elif kind == "nifti":
            array = _read_nifti(path, slice_index, window)
        else:
            array = _read_pil(path, channels)
    except UnreadableImage:
        raise
    except MemoryError:
        raise UnreadableImage(path, "not enough memory to decode") from None
    except Exception as exc:  # anything from inside a decoder: a file problem, reported as such
        raise UnreadableImage(path, f"cannot decode {_KIND_NAMES[kind]}: {_short(exc)}") from None
    if array.ndim != 3 or array.shape[0] == 0 or array.shape[1] == 0 or array.shape[2] not in (1, 3):
        raise UnreadableImage(path, f"unexpected decoded shape {array.shape}")
    return _to_channels(array, channels)


def _pil_info(path: Path) -> ImageInfo:
    try:
        with Image.open(path) as image:
            width, height = image.size
            _check_size(path, (height, width))
            orientation = image.getexif().get(0x0112, 1)  # EXIF Orientation: 5-8 swap width and height
            if orientation in (5, 6, 7, 8):
                width, height = height, width
            return ImageInfo(width, height, image.mode, image.format or path.suffix.lstrip(".").upper())
    except UnidentifiedImageError:
        raise UnreadableImage(path, "not an image: cannot identify image file") from None
    except Image.DecompressionBombError as exc:
        raise _pil_bomb(path, exc) from None


def _dicom_info(path: Path) -> ImageInfo:
    ds = _dicom_header(path)
    if "Rows" not in ds or "Columns" not in ds:
        raise UnreadableImage(path, "DICOM file without image size (Rows/Columns)")
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    return ImageInfo(int(ds.Columns), int(ds.Rows), f"DICOM {photometric}", "DICOM")


def _nifti_info(path: Path) -> ImageInfo:
    import nibabel as nib

    try:
        image = nib.load(path)
    except nib.filebasedimages.ImageFileError as exc:
        raise UnreadableImage(path, f"not a NIfTI file: {_short(exc)}") from None
    shape = image.shape
    if len(shape) < 2:
        raise UnreadableImage(path, f"NIfTI of shape {tuple(shape)} is not an image")
    _check_size(path, (int(shape[1]), int(shape[0])))
    # read_image shows np.rot90 of an (i, j) slice: rows come from j, columns from i.
    return ImageInfo(int(shape[0]), int(shape[1]), f"NIfTI {image.get_data_dtype()}", "NIfTI")


def image_info(path: str | os.PathLike) -> ImageInfo:
    """Size, mode and format of an image file, from its header where the format allows.

    Header-only means that a truncated file can pass here and still fail in :func:`read_image`.

    Raises:
        UnreadableImage: missing, empty or unidentifiable file.
    """
    path = Path(path)
    _check_file(path)
    if parse_member(path) is not None:
        pixels = _npz_pixels(path)
        return ImageInfo(pixels.shape[1], pixels.shape[0], "L" if pixels.shape[2] == 1 else "RGB", "NPZ")
    kind = _kind(path)
    try:
        if kind == "dicom":
            return _dicom_info(path)
        if kind == "nifti":
            return _nifti_info(path)
        return _pil_info(path)
    except UnreadableImage:
        raise
    except Exception as exc:
        raise UnreadableImage(path, f"cannot read {_KIND_NAMES[kind]} header: {_short(exc)}") from None
