"""Geometry, preprocessing settings and the memory-mapped image cache (keys, reuse, atomicity, stats)."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from conftest import write_image
from rich.console import Console

from medclass.config.schema import DataConfig
from medclass.data import cache as cache_module
from medclass.data.cache import ImageCache, build_cache, cache_key, channel_stats, file_md5
from medclass.data.preprocess import PreprocessSettings, load_preprocessed
from medclass.transforms.geometry import crop_foreground, foreground_box, resize_array

# --- geometry --------------------------------------------------------------------------------------------


def _disc(
    height: int = 50, width: int = 60, cy: int = 20, cx: int = 35, r: int = 10, c: int = 1
) -> np.ndarray:
    yy, xx = np.mgrid[:height, :width]
    image = np.zeros((height, width, c), np.uint8)
    image[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 200
    return image


def test_crop_foreground_gives_the_disc_bbox() -> None:
    image = _disc()
    image[2, 2] = 255  # a brighter speck elsewhere: smaller component, ignored
    image[45:48, 2:5] = 30  # dim noise below the threshold
    out = crop_foreground(image)
    assert foreground_box(image) == (10, 31, 25, 46)
    assert out.shape == (21, 21, 1)
    np.testing.assert_array_equal(out, image[10:31, 25:46])


def test_crop_foreground_rgb_and_constant() -> None:
    image = _disc(c=3)
    image[..., 1:] = 0  # bright in the red channel only still counts as foreground
    assert crop_foreground(image).shape == (21, 21, 3)
    flat = np.full((8, 8, 1), 90, np.uint8)
    assert crop_foreground(flat) is flat


def test_crop_threshold_is_a_fraction_of_the_range() -> None:
    image = _disc(r=5)
    image[:, :3] = 100  # a dim stripe along the left edge, 50% of the range
    assert crop_foreground(image, threshold=0.6).shape == (11, 11, 1)
    assert crop_foreground(image, threshold=0.4).shape == (50, 3, 1)  # the stripe is the largest component


def test_resize_stretch() -> None:
    image = np.full((30, 60, 3), 77, np.uint8)
    out = resize_array(image, 16)
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8 and (out == 77).all()
    assert resize_array(np.zeros((5, 7, 1), np.uint8), 64).shape == (64, 64, 1)


def test_resize_letterbox_keeps_aspect_and_centres() -> None:
    wide = np.full((30, 60, 1), 200, np.uint8)
    out = resize_array(wide, 32, mode="letterbox")
    assert out.shape == (32, 32, 1)
    assert (out[:8] == 0).all() and (out[24:] == 0).all() and (out[8:24] == 200).all()
    tall = np.full((60, 20, 3), 100, np.uint8)
    out = resize_array(tall, 30, mode="letterbox")
    assert (out[:, :10] == 0).all() and (out[:, 20:] == 0).all() and (out[:, 10:20] == 100).all()


def test_resize_antialiases_when_shrinking() -> None:
    stripes = np.zeros((64, 64, 1), np.uint8)
    stripes[:, ::2] = 255  # one-pixel stripes: sampling without a filter would give all 0 or all 255
    out = resize_array(stripes, 8)
    assert abs(float(out.mean()) - 127.5) < 3 and out.std() < 3


def test_resize_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="mode"):
        resize_array(np.zeros((4, 4, 1), np.uint8), 8, mode="crop")
    with pytest.raises(ValueError, match="uint8"):
        resize_array(np.zeros((4, 4, 1), np.float32), 8)
    with pytest.raises(ValueError, match="shape"):
        resize_array(np.zeros((4, 4), np.uint8), 8)


# --- preprocessing ---------------------------------------------------------------------------------------


def test_settings_from_config_and_dict_round_trip() -> None:
    cfg = DataConfig(image_size=64, channels=3, resize="letterbox", crop_foreground=True, crop_threshold=0.2)
    settings = PreprocessSettings.from_config(cfg)
    assert settings == PreprocessSettings(64, 3, "letterbox", True, 0.2, None)
    stored = {**settings.to_dict(), "mean": [0.5], "std": [0.2]}  # as a checkpoint holds it
    assert PreprocessSettings.from_dict(stored) == settings
    assert PreprocessSettings(64.0).to_dict() == PreprocessSettings(64).to_dict()


@pytest.mark.parametrize(
    "kwargs", [{"image_size": 0}, {"channels": 2}, {"resize": "crop"}, {"crop_threshold": 1.5}]
)
def test_settings_validate(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        PreprocessSettings(**{"image_size": 32, **kwargs})


def test_load_preprocessed(tmp_path: Path) -> None:
    from PIL import Image

    Image.fromarray(_disc(80, 100, 40, 50, 20, c=3)).save(tmp_path / "disc.png")
    plain = load_preprocessed(tmp_path / "disc.png", PreprocessSettings(32))
    assert plain.shape == (32, 32, 1) and plain.dtype == np.uint8
    cropped = load_preprocessed(tmp_path / "disc.png", PreprocessSettings(32, 3, crop_foreground=True))
    assert cropped.shape == (32, 32, 3)
    assert cropped.mean() > plain.mean()  # the disc now fills the frame


# --- cache -----------------------------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    paths = [
        write_image(tmp_path / "src" / f"img{i}{ext}", size=(40, 32), mode=mode, seed=i)
        for i, (ext, mode) in enumerate([(".png", "L"), (".JPG", "RGB"), (".png", "RGBA"), (".bmp", "RGB")])
    ]
    return paths


def _entries(folder: Path) -> list[str]:
    arrays = folder / "arrays"
    return sorted(p.name for p in arrays.iterdir()) if arrays.exists() else []


def test_build_stores_preprocessed_arrays(tmp_path: Path, files: list[Path]) -> None:
    settings = PreprocessSettings(16, channels=3)
    cache = build_cache(files, settings, cache_dir=tmp_path / "c")
    assert len(cache) == 4 and cache.arrays.shape == (4, 16, 16, 3) and cache.arrays.dtype == np.uint8
    assert isinstance(cache.arrays, np.memmap) and cache.readable.all() and cache.reasons == {}
    assert cache.paths == [str(p) for p in files] and cache.settings == settings
    for i, path in enumerate(files):
        np.testing.assert_array_equal(cache[i], load_preprocessed(path, settings))
    assert cache.index_of(files[2]) == 2 and cache.index_of(str(files[3])) == 3
    with pytest.raises(KeyError):
        cache.index_of(tmp_path / "other.png")
    key = cache_key(settings, [file_md5(p) for p in files])
    assert cache.key == key and _entries(tmp_path / "c") == [f"{key}.json", f"{key}.npy"]


def test_default_cache_dir_honours_env(
    tmp_path: Path, files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDCLASS_CACHE_DIR", str(tmp_path / "env"))
    build_cache(files[:2], PreprocessSettings(8))
    assert len(_entries(tmp_path / "env")) == 2


def test_same_files_and_settings_reuse_the_entry(
    tmp_path: Path, files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = PreprocessSettings(16)
    first = build_cache(files, settings, cache_dir=tmp_path / "c")

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(cache_module, "load_preprocessed", no_decoding)
    again = build_cache(files, settings, cache_dir=tmp_path / "c", workers=1)
    assert again.key == first.key and again.readable.all()
    np.testing.assert_array_equal(np.asarray(again.arrays), np.asarray(first.arrays))

    # Same bytes somewhere else: same entry, but the cache answers with the new paths.
    moved = []
    for path in files:
        copy = tmp_path / "moved" / path.name
        copy.parent.mkdir(exist_ok=True)
        copy.write_bytes(path.read_bytes())
        moved.append(copy)
    relocated = build_cache(moved, settings, cache_dir=tmp_path / "c", workers=1)
    assert relocated.key == first.key and relocated.paths == [str(p) for p in moved]


def test_key_changes_with_settings_and_content(tmp_path: Path, files: list[Path]) -> None:
    folder = tmp_path / "c"
    base = build_cache(files, PreprocessSettings(16), cache_dir=folder).key
    keys = {
        base,
        build_cache(files, PreprocessSettings(16, resize="letterbox"), cache_dir=folder).key,
        build_cache(files, PreprocessSettings(16, crop_foreground=True), cache_dir=folder).key,
        build_cache(files, PreprocessSettings(24), cache_dir=folder).key,
        build_cache(files[::-1], PreprocessSettings(16), cache_dir=folder).key,
    }
    assert len(keys) == 5
    write_image(files[1], size=(40, 32), mode="RGB", seed=99)  # same name, new content
    changed = build_cache(files, PreprocessSettings(16), cache_dir=folder)
    assert changed.key not in keys
    np.testing.assert_array_equal(changed[1], load_preprocessed(files[1], PreprocessSettings(16)))


def test_unreadable_files_are_recorded_not_fatal(tmp_path: Path, files: list[Path]) -> None:
    empty = tmp_path / "src" / "empty.png"
    empty.touch()
    broken = tmp_path / "src" / "broken.jpg"
    broken.write_bytes(files[1].read_bytes()[:300])
    missing = tmp_path / "src" / "missing.png"
    cache = build_cache([files[0], empty, broken, missing], PreprocessSettings(8), cache_dir=tmp_path / "c")
    assert cache.readable.tolist() == [True, False, False, False]
    assert cache.reasons == {
        str(empty): "empty file",
        str(broken): "truncated JPEG",
        str(missing): "file not found",
    }
    assert not np.asarray(cache.arrays[1:]).any()
    # The reasons come back from the stored entry too.
    again = build_cache([files[0], empty, broken, missing], PreprocessSettings(8), cache_dir=tmp_path / "c")
    assert again.reasons == cache.reasons and again.readable.tolist() == [True, False, False, False]


@pytest.mark.parametrize("error", [KeyboardInterrupt, MemoryError])
def test_interrupted_build_leaves_no_entry(
    tmp_path: Path, files: list[Path], monkeypatch: pytest.MonkeyPatch, error: type[BaseException]
) -> None:
    calls = []
    real = cache_module.load_preprocessed

    def interrupted(path, settings):
        calls.append(path)
        if len(calls) == 3:
            raise error()
        return real(path, settings)

    monkeypatch.setattr(cache_module, "load_preprocessed", interrupted)
    if error is KeyboardInterrupt:
        with pytest.raises(KeyboardInterrupt):
            build_cache(files, PreprocessSettings(8), cache_dir=tmp_path / "c", workers=1)
        assert _entries(tmp_path / "c") == []  # not even a temporary file
    else:  # an ordinary exception inside decoding is a bad file, recorded, never a crash
        cache = build_cache(files, PreprocessSettings(8), cache_dir=tmp_path / "c", workers=1)
        assert cache.readable.tolist() == [True, True, False, True]


def test_old_temporaries_of_killed_builds_are_removed(tmp_path: Path, files: list[Path]) -> None:
    arrays = tmp_path / "c" / "arrays"
    arrays.mkdir(parents=True)
    old, recent = arrays / ".abc.1.x.tmp", arrays / ".abc.2.y.tmp"
    old.write_bytes(b"x")
    recent.write_bytes(b"y")
    os.utime(old, (0, 0))
    build_cache(files[:1], PreprocessSettings(8), cache_dir=tmp_path / "c")
    assert not old.exists() and recent.exists()


def test_stale_array_without_sidecar_is_rebuilt(tmp_path: Path, files: list[Path]) -> None:
    first = build_cache(files, PreprocessSettings(8), cache_dir=tmp_path / "c")
    expected = np.array(first.arrays)  # a copy: the file under the memmap is overwritten below
    (tmp_path / "c" / "arrays" / f"{first.key}.json").unlink()  # as if killed between the two renames
    np.save(tmp_path / "c" / "arrays" / f"{first.key}.npy", np.ones((1, 2), np.uint8))
    again = build_cache(files, PreprocessSettings(8), cache_dir=tmp_path / "c")
    assert again.arrays.shape == (4, 8, 8, 1)
    np.testing.assert_array_equal(np.asarray(again.arrays), expected)


def test_process_pool_matches_serial(
    tmp_path: Path, files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_module, "SERIAL_BELOW", 2)
    broken = tmp_path / "src" / "broken.png"
    broken.write_text("no")
    paths = [*files, broken, *files]
    log = io.StringIO()
    pooled = build_cache(
        paths, PreprocessSettings(12), tmp_path / "pool", workers=2, progress=True, console=Console(file=log)
    )
    assert log.getvalue().startswith("  caching 9/9 images in ")  # a plain line off a terminal
    serial = build_cache(paths, PreprocessSettings(12), cache_dir=tmp_path / "serial", workers=1)
    np.testing.assert_array_equal(np.asarray(pooled.arrays), np.asarray(serial.arrays))
    assert pooled.readable.tolist() == serial.readable.tolist() == [True] * 4 + [False] + [True] * 4
    assert pooled.reasons == serial.reasons


def test_empty_input(tmp_path: Path) -> None:
    cache = build_cache([], PreprocessSettings(8, channels=3), cache_dir=tmp_path / "c")
    assert len(cache) == 0 and cache.arrays.shape == (0, 8, 8, 3)


def test_pickle_reopens_the_memmap(tmp_path: Path, files: list[Path]) -> None:
    cache = build_cache(files, PreprocessSettings(32, channels=3), cache_dir=tmp_path / "c")
    data = pickle.dumps(cache)
    assert len(data) < cache.arrays.nbytes  # the pixels are not copied into the pickle
    restored: ImageCache = pickle.loads(data)
    assert isinstance(restored.arrays, np.memmap)
    np.testing.assert_array_equal(restored[3], cache[3])


@pytest.mark.parametrize("channels", [1, 3])
def test_channel_stats_match_numpy(
    tmp_path: Path, files: list[Path], monkeypatch: pytest.MonkeyPatch, channels: int
) -> None:
    broken = tmp_path / "src" / "broken.png"
    broken.write_text("no")
    cache = build_cache([*files, broken], PreprocessSettings(16, channels=channels), cache_dir=tmp_path / "c")
    chosen = [3, 0, 2, 4]  # 4 is unreadable: left out
    mean, std = channel_stats(cache, chosen)
    pixels = np.asarray(cache.arrays[[0, 2, 3]]).astype(np.float64) / 255
    np.testing.assert_allclose(mean, pixels.mean(axis=(0, 1, 2)), rtol=1e-10)
    np.testing.assert_allclose(std, pixels.std(axis=(0, 1, 2)), rtol=1e-10)
    assert len(mean) == len(std) == channels
    monkeypatch.setattr(cache_module, "_STATS_BLOCK_PIXELS", 1)  # one image per block: same answer
    blocked_mean, blocked_std = channel_stats(cache, chosen)
    np.testing.assert_allclose(blocked_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(blocked_std, std, rtol=1e-12)
    with pytest.raises(ValueError, match="no readable image"):
        channel_stats(cache, [4])


def test_given_digests_give_the_same_entry_as_hashing(tmp_path: Path) -> None:
    files = [write_image(tmp_path / f"d{i}.png", seed=i) for i in range(3)]
    settings = PreprocessSettings(image_size=16)
    hashed = build_cache(files, settings, cache_dir=tmp_path / "c")
    given = build_cache(files, settings, cache_dir=tmp_path / "c", digests=[file_md5(f) for f in files])
    assert given.key == hashed.key
    with pytest.raises(ValueError, match="2 digests for 3 paths"):
        build_cache(files, settings, cache_dir=tmp_path / "c", digests=["a", "b"])
