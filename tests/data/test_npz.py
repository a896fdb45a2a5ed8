"""MedMNIST-style ``.npz`` files as a data layout: discovery, reading, scanning, duplicates, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medclass.cli.app import run_app
from medclass.data.cache import build_cache
from medclass.data.discovery import discover
from medclass.data.npz import member_path, parse_member
from medclass.data.preprocess import PreprocessSettings
from medclass.data.readers import image_info, read_image
from medclass.data.scan import scan_files

SIZES = (28, 64, 128, 224)
COUNTS = {"train": 12, "val": 4, "test": 6}


def write_npz(path: Path, size: int = 28, rgb: bool = False, flat_labels: bool = False, **replace) -> Path:
    """A tiny MedMNIST-like file: 2 classes, labels ``(N, 1)`` (or ``(N,)``), images grey or RGB."""
    rng = np.random.default_rng(size + rgb)
    arrays = {}
    for split, n in COUNTS.items():
        shape = (n, size, size, 3) if rgb else (n, size, size)
        arrays[f"{split}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        labels = np.arange(n) % 2
        arrays[f"{split}_labels"] = labels if flat_labels else labels[:, None]
    arrays.update(replace)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


@pytest.mark.parametrize("rgb", [False, True], ids=["grey", "rgb"])
@pytest.mark.parametrize("size", SIZES)
def test_npz_is_a_presplit_layout_read_pixel_for_pixel(tmp_path: Path, size: int, rgb: bool) -> None:
    npz = write_npz(tmp_path / f"set_{size}.npz", size, rgb)
    index = discover(npz)
    assert index.layout == "npz" and index.has_splits and index.classes == ["0", "1"]
    assert index.split_counts() == COUNTS
    first_test = next(s for s in index.samples if s.split == "test")
    assert first_test.path == member_path(npz, "test", 0)
    assert str(first_test.path) == f"{npz}::test/0" and parse_member(first_test.path) == (npz, "test", 0)

    with np.load(npz) as arrays:
        stored = arrays["test_images"][0]
    pixels = read_image(first_test.path, channels=3 if rgb else 1)
    assert pixels.shape == (size, size, 3 if rgb else 1)
    np.testing.assert_array_equal(pixels[..., 0] if not rgb else pixels, stored)
    info = image_info(first_test.path)
    assert (info.width, info.height, info.mode, info.format) == (size, size, "RGB" if rgb else "L", "NPZ")


def test_flat_labels_and_many_classes_sort_numerically(tmp_path: Path) -> None:
    labels = np.arange(12) % 11
    npz = write_npz(tmp_path / "organ.npz", flat_labels=True, train_labels=labels)
    index = discover(npz)
    assert index.classes == [f"{i:02d}" for i in range(11)] and index.classes == sorted(index.classes)
    assert [s.label for s in index.samples[:3]] == ["00", "01", "02"]


def test_exact_copies_inside_the_file_are_duplicates_and_the_cache_reads_members(tmp_path: Path) -> None:
    images = np.random.default_rng(1).integers(0, 256, (6, 28, 28), dtype=np.uint8)
    train = np.random.default_rng(2).integers(0, 256, (12, 28, 28), dtype=np.uint8)
    train[5] = images[3]
    npz = write_npz(tmp_path / "dup.npz", test_images=images, train_images=train)
    index = discover(npz)
    infos = scan_files([s.path for s in index.samples], cache_dir=tmp_path / "cache", workers=1)
    by_path = {info.path: info for info in infos}
    assert all(info.readable for info in infos)
    assert by_path[f"{npz}::test/3"].md5 == by_path[f"{npz}::train/5"].md5
    assert len({info.md5 for info in infos}) == len(infos) - 1

    cache = build_cache([str(s.path) for s in index.samples], PreprocessSettings(32), cache_dir=tmp_path)
    assert cache.readable.all() and cache.arrays.shape == (22, 32, 32, 1)


def test_inspect_finds_the_cross_split_copy(tmp_path: Path) -> None:
    train = np.random.default_rng(2).integers(0, 256, (12, 28, 28), dtype=np.uint8)
    test = np.random.default_rng(3).integers(0, 256, (6, 28, 28), dtype=np.uint8)
    test[0] = train[4]
    npz = write_npz(tmp_path / "dup.npz", train_images=train, test_images=test)
    out = tmp_path / "report.json"
    assert run_app(["inspect", str(npz), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["layout"] == "npz"
    assert report["counts"]["test"] == {"0": 3, "1": 3}
    assert report["duplicates"]["exact"]["split_leaks"] == 1
    assert sorted(report["duplicates"]["exact"]["list"][0]["paths"]) == [f"{npz}::test/0", f"{npz}::train/4"]


def test_split_keeps_the_file_splits_with_stable_ids(tmp_path: Path) -> None:
    npz = write_npz(tmp_path / "set.npz")
    out = tmp_path / "splits.csv"
    assert run_app(["split", str(npz), "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert table["split"].value_counts().to_dict() == COUNTS
    row = table[table["path"] == f"{npz}::val/2"].iloc[0]
    assert (row["label"], row["split"]) == (0, "val")


@pytest.mark.parametrize(
    ("replace", "expected"),
    [
        ({"train_labels": None}, "missing key 'train_labels'"),
        ({"val_images": None}, "missing key 'val_images'"),
        (
            {"test_labels": np.zeros((5, 1), dtype=np.int64)},
            "'test_images' has 6 images but 'test_labels' has 5",
        ),
        ({"train_labels": np.zeros((12, 1, 1), dtype=np.int64)}, "'train_labels' has shape (12, 1, 1)"),
        (
            {"train_labels": np.full((12, 14), 2, dtype=np.int64)},
            "multi-label values must be integers 0, 1 or -1",
        ),
        ({"train_images": np.zeros((12, 28, 28), dtype=np.float32)}, "dtype float32; expected uint8"),
        ({"val_images": np.zeros((4, 64, 64), dtype=np.uint8)}, "different image shapes"),
    ],
    ids=["no-train-labels", "no-val-images", "lengths", "3d-labels", "multi-label", "float", "sizes"],
)
def test_a_bad_file_is_one_line_and_exit_2(tmp_path: Path, capsys, monkeypatch, replace, expected) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    npz = write_npz(tmp_path / "bad.npz", **replace)
    assert run_app(["inspect", str(npz)]) == 2
    err = capsys.readouterr().err
    assert expected in " ".join(err.split()) and str(npz) in err.replace("\n", "")
    assert "Traceback" not in err


def test_a_file_that_is_not_an_npz_is_refused(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    fake = tmp_path / "fake.npz"
    fake.write_text("not a zip archive")
    assert run_app(["inspect", str(fake)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "not a readable .npz file" in err and "Traceback" not in err
