"""inspect_data report keys and figures, render_inspect, and the real data sets' duplicate counts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import write_image
from rich.console import Console

from medclass.data.inspect import inspect_data, render_inspect

REPORT_KEYS = {
    "source", "root", "layout", "classes", "n_files", "n_readable", "counts", "readable_counts", "sizes",
    "modes", "formats", "unreadable", "ignored", "duplicates", "timing",
}  # fmt: skip


def test_report_keys_and_figures(image_folder: Path, tmp_path: Path) -> None:
    shutil.copy(image_folder / "benign" / "img1.png", image_folder / "malignant" / "copy.png")
    (image_folder / "benign" / "broken.jpg").write_bytes(b"\xff\xd8 nope")
    (image_folder / "benign" / "notes.txt").write_text("not an image")
    report = inspect_data(image_folder, cache_dir=tmp_path / "cache")
    assert set(report) == REPORT_KEYS
    json.dumps(report)
    assert report["layout"] == "folders" and report["classes"] == ["benign", "malignant"]
    assert report["counts"] == {"all": {"benign": 13, "malignant": 13}}
    assert report["readable_counts"] == {"all": {"benign": 12, "malignant": 13}}
    assert report["n_files"] == 26 and report["n_readable"] == 25
    assert report["sizes"]["width"] == {"min": 40, "median": 40.0, "max": 40}
    assert report["sizes"]["height"] == {"min": 32, "median": 32.0, "max": 32}
    assert sum(report["modes"].values()) == 25 and set(report["modes"]) == {"L", "RGB"}
    assert report["formats"] == {"PNG": 13, "JPEG": 12}
    assert [Path(u["path"]).name for u in report["unreadable"]] == ["broken.jpg"]
    assert report["unreadable"][0]["reason"]
    assert [Path(i["path"]).name for i in report["ignored"]] == ["notes.txt"]
    exact = report["duplicates"]["exact"]
    assert exact["groups"] == 1 and exact["extra_copies"] == 1
    assert exact["list"][0]["relation"] == "across-classes"
    assert set(report["timing"]) == {"discover_s", "scan_s", "duplicates_s"}


def test_presplit_counts_and_leak_relation(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for split, n in (("train", 4), ("test", 2)):
        for label in ("a", "b"):
            for i in range(n):
                # A fixed seed per image: hash() of strings changes between processes, and two equal seeds
                # would make an extra duplicate group.
                seed = 100 * (split == "test") + 10 * (label == "b") + i
                write_image(root / split / label / f"{split}{i}.png", seed=seed)
    shutil.copy(root / "train" / "a" / "train0.png", root / "test" / "a" / "leak.png")
    report = inspect_data(root, cache_dir=tmp_path / "cache")
    assert report["counts"] == {"train": {"a": 4, "b": 4}, "test": {"a": 3, "b": 2}}
    (group,) = report["duplicates"]["exact"]["list"]
    assert (
        group["relation"] == "across-splits"
        and group["split_leak"]
        and sorted(group["splits"]) == ["test", "train"]
    )


def test_render_prints_every_section(image_folder: Path, tmp_path: Path) -> None:
    shutil.copy(image_folder / "benign" / "img1.png", image_folder / "benign" / "[odd] name.png")
    (image_folder / "malignant" / "bad.png").write_bytes(b"")
    report = inspect_data(image_folder, cache_dir=tmp_path / "cache")
    console = Console(record=True, width=160)
    render_inspect(report, console)
    text = console.export_text()
    for expected in ("Images per class", "Readable images", "Unreadable files (1)", "Duplicate groups",
                     "[odd] name.png", "empty file"):  # fmt: skip
        assert expected in text


def test_near_distance_is_passed_on(image_folder: Path, tmp_path: Path) -> None:
    report = inspect_data(image_folder, near_distance=0, cache_dir=tmp_path / "cache")
    assert report["duplicates"]["near_distance"] == 0


@pytest.mark.realdata
def test_brain_mri_yesno_duplicates(shared_datasets: Path, tmp_path: Path) -> None:
    report = inspect_data(shared_datasets / "brain_mri_yesno", cache_dir=tmp_path / "cache", workers=2)
    assert report["n_files"] == 253 and report["n_readable"] == 253
    exact = report["duplicates"]["exact"]
    assert (exact["groups"], exact["extra_copies"]) == (22, 25)
    assert exact["by_relation"]["within-class"] == 22


def _no_decoding(path: str) -> None:
    raise AssertionError(f"{path} was decoded again although the scan cache holds it")


@pytest.mark.slow
@pytest.mark.realdata
def test_brain_tumor_4class_duplicates(
    shared_datasets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = inspect_data(
        shared_datasets / "brain_tumor_mri_4class" / "Training", cache_dir=tmp_path, workers=2
    )
    assert report["n_files"] == 5708 and report["n_readable"] == 5708
    exact, near = report["duplicates"]["exact"], report["duplicates"]["near"]
    assert (exact["groups"], exact["extra_copies"]) == (155, 207)
    assert exact["by_relation"]["across-classes"] == 0
    assert near["groups"] > exact["groups"]
    # The second scan only hashes bytes: every decoded result comes from the scan cache, none is decoded.
    monkeypatch.setattr("medclass.data.scan._decode_one", _no_decoding)
    again = inspect_data(
        shared_datasets / "brain_tumor_mri_4class" / "Training", cache_dir=tmp_path, workers=1
    )
    assert again["duplicates"] == report["duplicates"]
