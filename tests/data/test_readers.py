"""read_image / image_info / is_image_file: every format and mode, the intensity rules, broken files."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from conftest import write_image
from dicom_files import write_dicom
from PIL import Image

from medclass.data.readers import (
    ImageInfo,
    UnreadableImage,
    image_info,
    is_image_file,
    read_image,
    scale_to_uint8,
)

RNG_RGB = np.random.default_rng(7).integers(0, 256, (6, 8, 3), dtype=np.uint8)


def _write_dicom(
    path: Path,
    pixels: np.ndarray,
    photometric: str = "MONOCHROME2",
    slope: float | None = None,
    intercept: float | None = None,
    window: tuple[float, float] | None = None,
) -> Path:
    """A minimal uncompressed 16-bit DICOM file (Secondary Capture)."""
    extra: dict[str, object] = {"PhotometricInterpretation": photometric}
    if slope is not None:
        extra.update(RescaleSlope=slope, RescaleIntercept=intercept)
    if window is not None:
        extra.update(WindowCenter=window[0], WindowWidth=window[1])
    return write_dicom(path, pixels, 16, **extra)


def _reason(path: Path, **kwargs) -> str:
    with pytest.raises(UnreadableImage) as info:
        read_image(path, **kwargs)
    assert info.value.path == path
    return info.value.reason


# --- is_image_file ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.jpg", True), ("a.JPG", True), ("a.Jpeg", True), ("a.png", True), ("a.bmp", True),
        ("a.TIF", True), ("a.tiff", True), ("a.dcm", True), ("a.DICOM", True), ("v.nii", True),
        ("v.NII.GZ", True), ("notes.txt", False), ("a.gz", False), ("a", False), (".DS_Store", False),
        ("._a.jpg", False), (".hidden.png", False), ("a.jpg.bak", False),
    ],
)  # fmt: skip
def test_is_image_file(name: str, expected: bool) -> None:
    assert is_image_file(Path("some/dir") / name) is expected
    assert is_image_file(f"some/dir/{name}") is expected


# --- Pillow formats and modes ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["g.png", "g.BMP", "g.tif", "g.TIFF", "g.PNG"])
def test_lossless_grey_keeps_values(tmp_path: Path, name: str) -> None:
    pixels = RNG_RGB[..., 0]
    Image.fromarray(pixels).save(tmp_path / name)
    out = read_image(tmp_path / name)
    assert out.dtype == np.uint8 and out.shape == (6, 8, 1)
    np.testing.assert_array_equal(out[..., 0], pixels)
    rgb = read_image(tmp_path / name, channels=3)
    assert rgb.shape == (6, 8, 3)
    for c in range(3):  # grey -> RGB repeats the channel
        np.testing.assert_array_equal(rgb[..., c], pixels)


@pytest.mark.parametrize("name", ["c.png", "c.bmp", "c.tiff"])
def test_rgb_to_grey_is_itu_601_luma(tmp_path: Path, name: str) -> None:
    Image.fromarray(RNG_RGB).save(tmp_path / name)
    np.testing.assert_array_equal(read_image(tmp_path / name, channels=3), RNG_RGB)
    expected = np.asarray(Image.fromarray(RNG_RGB).convert("L"))
    np.testing.assert_array_equal(read_image(tmp_path / name, channels=1)[..., 0], expected)
    r, g, b = (RNG_RGB[..., i].astype(float) for i in range(3))
    luma = r * 299 / 1000 + g * 587 / 1000 + b * 114 / 1000
    assert np.abs(read_image(tmp_path / name)[..., 0] - luma).max() <= 1


@pytest.mark.parametrize("name", ["p.jpg", "p.JPG", "p.jpeg", "p.JPEG"])
def test_jpeg_any_case(tmp_path: Path, name: str) -> None:
    path = write_image(tmp_path / name, size=(40, 32), mode="RGB")
    assert read_image(path, channels=3).shape == (32, 40, 3)
    assert image_info(path) == ImageInfo(40, 32, "RGB", "JPEG")


def test_16_bit_png_is_scaled_by_its_bit_depth(tmp_path: Path) -> None:
    pixels = np.array([[1000, 2000], [3000, 65535]], dtype=np.uint16)
    Image.fromarray(pixels).save(tmp_path / "deep.png")
    assert image_info(tmp_path / "deep.png").mode.startswith("I")
    out = read_image(tmp_path / "deep.png")[..., 0]
    expected = np.rint(pixels * 255.0 / 65535).astype(np.uint8)  # [[4, 8], [12, 255]], not min-max
    np.testing.assert_array_equal(out, expected)


def test_float_tiff_ignores_non_finite_and_constant_is_zero(tmp_path: Path) -> None:
    pixels = np.array([[np.nan, -1.0], [1.0, np.inf]], dtype=np.float32)
    Image.fromarray(pixels, "F").save(tmp_path / "f.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "f.tif")[..., 0], [[0, 0], [255, 0]])
    Image.fromarray(np.full((3, 3), 7.5, np.float32), "F").save(tmp_path / "const.tif")
    assert not read_image(tmp_path / "const.tif").any()


def test_scale_to_uint8_rule() -> None:
    np.testing.assert_array_equal(scale_to_uint8(np.array([-5.0, 0.0, 5.0])), [0, 128, 255])
    assert not scale_to_uint8(np.full(4, np.nan)).any()


def test_rgba_is_composited_over_black(tmp_path: Path) -> None:
    rgba = np.array([[[200, 100, 50, 255], [200, 100, 50, 128], [200, 100, 50, 0]]], dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png", channels=3)
    np.testing.assert_array_equal(out[0], [[200, 100, 50], [100, 50, 25], [0, 0, 0]])
    grey = read_image(tmp_path / "a.png", channels=1)[0, :, 0]
    assert grey[2] == 0 and grey[1] == np.asarray(Image.fromarray(out).convert("L"))[0, 1]


def test_la_is_composited_over_black(tmp_path: Path) -> None:
    la = np.array([[[200, 255], [200, 51], [200, 0]]], dtype=np.uint8)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    np.testing.assert_array_equal(read_image(tmp_path / "la.png")[0, :, 0], [200, 40, 0])


@pytest.mark.parametrize("transparent", [False, True])
def test_palette_with_and_without_transparency(tmp_path: Path, transparent: bool) -> None:
    palette_image = Image.fromarray(RNG_RGB).convert("P")
    index = np.asarray(palette_image)
    kwargs = {"transparency": int(index[0, 0])} if transparent else {}
    palette_image.save(tmp_path / "p.png", **kwargs)
    assert image_info(tmp_path / "p.png").mode == "P"
    out = read_image(tmp_path / "p.png", channels=3)
    as_rgb = np.asarray(palette_image.convert("RGB"))
    hidden = index == index[0, 0]
    if transparent:
        assert not out[hidden].any()
        np.testing.assert_array_equal(out[~hidden], as_rgb[~hidden])
    else:
        np.testing.assert_array_equal(out, as_rgb)


def test_grey_with_transparent_colour(tmp_path: Path) -> None:
    grey = np.array([[10, 20, 30]], dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "t.png", transparency=20)
    np.testing.assert_array_equal(read_image(tmp_path / "t.png")[0, :, 0], [10, 0, 30])


@pytest.mark.parametrize("name", ["k.jpg", "k.tif"])
def test_cmyk_becomes_rgb(tmp_path: Path, name: str) -> None:
    cmyk = Image.fromarray(RNG_RGB).convert("CMYK")
    cmyk.save(tmp_path / name)
    assert image_info(tmp_path / name).mode == "CMYK"
    with Image.open(tmp_path / name) as stored:
        expected = np.asarray(stored.convert("RGB"))
    out = read_image(tmp_path / name, channels=3)
    np.testing.assert_array_equal(out, expected)
    assert read_image(tmp_path / name, channels=1).shape == (6, 8, 1)


def test_bilevel_and_32_bit_modes(tmp_path: Path) -> None:
    Image.fromarray(RNG_RGB[..., 0] > 127).save(tmp_path / "b.png")
    out = read_image(tmp_path / "b.png")
    assert set(np.unique(out)) <= {0, 255}
    Image.fromarray(np.array([[0, 70000], [140000, 35000]], dtype=np.int32), "I").save(tmp_path / "i.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "i.tif")[..., 0], [[0, 128], [255, 64]])


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    pixels = np.zeros((20, 40), np.uint8)  # 40 wide, 20 high; a bright block top-left
    pixels[:5, :10] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(pixels).save(tmp_path / "r.jpg", exif=exif, quality=95)
    out = read_image(tmp_path / "r.jpg")
    assert out.shape == (40, 20, 1)
    assert out[:10, -5:].mean() > 200 and out[-10:, :5].mean() < 50  # the block moved to the top-right
    info = image_info(tmp_path / "r.jpg")
    assert (info.width, info.height) == (20, 40)  # the header size, rotated like read_image


# --- DICOM -----------------------------------------------------------------------------------------------


def test_dicom_stored_range_and_info(tmp_path: Path) -> None:
    path = _write_dicom(tmp_path / "a.dcm", np.array([[0, 257], [2570, 65535]]))  # 16 bits stored
    np.testing.assert_array_equal(read_image(path)[..., 0], [[0, 1], [10, 255]])
    assert read_image(path, channels=3).shape == (2, 2, 3)
    assert image_info(path) == ImageInfo(2, 2, "DICOM MONOCHROME2", "DICOM")


def test_dicom_monochrome1_is_inverted(tmp_path: Path) -> None:
    path = _write_dicom(tmp_path / "b.DCM", np.array([[0, 257], [2570, 65535]]), photometric="MONOCHROME1")
    np.testing.assert_array_equal(read_image(path)[..., 0], [[255, 254], [245, 0]])
    assert image_info(path).mode == "DICOM MONOCHROME1"


def test_dicom_rescale_then_window(tmp_path: Path) -> None:
    # Stored 0..300 -> slope 2, intercept -100 -> -100, 100, 300, 500. Window centre 200, width 201 spans
    # [99.5, 299.5]: -100 -> 0, 100 -> round(255 * (0.5/200 ... )) = 1, 300 and 500 clip to 255.
    path = _write_dicom(
        tmp_path / "c.dicom", np.array([[0, 100], [200, 300]]), slope=2, intercept=-100, window=(200, 201)
    )
    np.testing.assert_array_equal(read_image(path)[..., 0], [[0, 1], [255, 255]])
    # Same rescale, no window: the stored range through the rescale, [-100, 131070 - 100], scales.
    plain = _write_dicom(tmp_path / "d.dcm", np.array([[0, 257], [2570, 65535]]), slope=2, intercept=-100)
    np.testing.assert_array_equal(read_image(plain)[..., 0], [[0, 1], [10, 255]])
    # A window given in the config replaces the file's: [99.5, 299.5] again, now from data.window.
    np.testing.assert_array_equal(read_image(plain, window=(200, 201))[..., 0], [[0, 255], [255, 255]])
    mid = _write_dicom(tmp_path / "e.dcm", np.array([[100, 150], [200, 250]]), window=(175.5, 101))
    np.testing.assert_array_equal(read_image(mid)[..., 0], [[0, 64], [191, 255]])


def test_dicom_multiframe_picks_middle_or_given_frame(tmp_path: Path) -> None:
    frames = np.stack([np.full((2, 3), k * 50 * 257) for k in range(3)])  # frame k reads as k * 50
    path = _write_dicom(tmp_path / "m.dcm", frames)
    assert (read_image(path) == 50).all()
    assert (read_image(path, slice_index=2) == 100).all()
    assert "out of range 0-2" in _reason(path, slice_index=3)


def test_not_a_dicom(tmp_path: Path) -> None:
    (tmp_path / "x.dcm").write_bytes(b"\x00" * 64 + b"definitely not DICOM")
    assert _reason(tmp_path / "x.dcm")
    with pytest.raises(UnreadableImage):
        image_info(tmp_path / "x.dcm")


# --- NIfTI -----------------------------------------------------------------------------------------------


@pytest.fixture
def volume(tmp_path: Path) -> tuple[Path, np.ndarray]:
    data = np.random.default_rng(0).normal(size=(4, 5, 6)).astype(np.float32)
    path = tmp_path / "v.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    return path, data


def test_nifti_middle_slice_of_last_axis(volume: tuple[Path, np.ndarray]) -> None:
    path, data = volume
    out = read_image(path)
    assert out.shape == (5, 4, 1)  # np.rot90 of the (4, 5) slice
    np.testing.assert_array_equal(out[..., 0], np.rot90(scale_to_uint8(data[:, :, 3])))
    assert image_info(path) == ImageInfo(4, 5, "NIfTI float32", "NIfTI")


def test_nifti_slice_index_and_range(volume: tuple[Path, np.ndarray]) -> None:
    path, data = volume
    np.testing.assert_array_equal(
        read_image(path, slice_index=0)[..., 0], np.rot90(scale_to_uint8(data[..., 0]))
    )
    reason = _reason(path, slice_index=6)
    assert "slice_index 6" in reason and "0-5" in reason
    assert "0-5" in _reason(path, slice_index=-1)


def test_nifti_4d_and_2d(tmp_path: Path) -> None:
    series = np.arange(2 * 3 * 4 * 2, dtype=np.int16).reshape(2, 3, 4, 2)
    nib.save(nib.Nifti1Image(series, np.eye(4)), tmp_path / "s.nii")
    np.testing.assert_array_equal(
        read_image(tmp_path / "s.nii")[..., 0], np.rot90(scale_to_uint8(series[:, :, 2, 0]))
    )
    flat = np.arange(12, dtype=np.uint8).reshape(3, 4, 1)
    nib.save(nib.Nifti1Image(flat, np.eye(4)), tmp_path / "flat.NII")
    assert read_image(tmp_path / "flat.NII", channels=3).shape == (4, 3, 3)


# --- broken files ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["e.png", "e.jpg", "e.dcm", "e.nii.gz", "e.tif"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    (tmp_path / name).touch()
    assert _reason(tmp_path / name) == "empty file"
    with pytest.raises(UnreadableImage, match="empty file"):
        image_info(tmp_path / name)


@pytest.mark.parametrize("name", ["g.png", "g.JPG", "g.bmp", "g.tiff", "g.dcm", "g.nii", "g.nii.gz"])
def test_garbage_raises_unreadable_only(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"this is not an image, just some text\n" * 20)
    assert _reason(tmp_path / name)
    with pytest.raises(UnreadableImage):
        image_info(tmp_path / name)


def test_not_an_image_reason(tmp_path: Path) -> None:
    (tmp_path / "n.png").write_text("hello")
    assert _reason(tmp_path / "n.png").startswith("not an image")


def test_missing_file(tmp_path: Path) -> None:
    assert _reason(tmp_path / "nope.png") == "file not found"


@pytest.mark.parametrize(("name", "fmt"), [("t.jpg", "JPEG"), ("t.png", "PNG")])
@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_files(tmp_path: Path, name: str, fmt: str, keep: float) -> None:
    full = write_image(tmp_path / f"full_{name}", size=(64, 48), mode="RGB")
    data = full.read_bytes()
    cut = tmp_path / name
    cut.write_bytes(data[: int(len(data) * keep)])
    assert _reason(cut) == f"truncated {fmt}"


def test_jpeg_missing_only_end_marker_is_truncated(tmp_path: Path) -> None:
    full = write_image(tmp_path / "full.jpg", size=(64, 48), mode="L")
    (tmp_path / "cut.jpg").write_bytes(full.read_bytes()[:-2])
    assert _reason(tmp_path / "cut.jpg") == "truncated JPEG"


def test_bad_channels_is_a_programming_error(tmp_path: Path) -> None:
    path = write_image(tmp_path / "a.png")
    with pytest.raises(ValueError, match="channels"):
        read_image(path, channels=2)


def test_unreadable_image_pickles() -> None:
    import pickle

    error = pickle.loads(pickle.dumps(UnreadableImage("a/b.png", "truncated PNG")))
    assert error.path == Path("a/b.png") and error.reason == "truncated PNG"


# --- real data -------------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_real_brain_mri_yesno_reads_every_file(shared_datasets: Path) -> None:
    from medclass.data.discovery import discover

    index = discover(shared_datasets / "brain_mri_yesno")
    assert index.classes == ["no", "yes"] and len(index.samples) == 253
    modes = set()
    for sample in index.samples:
        info = image_info(sample.path)
        modes.add(info.mode)
        out = read_image(sample.path, channels=1)
        assert out.shape == (info.height, info.width, 1) and out.dtype == np.uint8
    assert {"RGB", "L", "RGBA", "P"} <= modes
