"""The class-and-split sanity check after unreadable files are dropped and splits are assigned, any source."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import write_image
from rich.console import Console

from medclass.config import build_config
from medclass.data.checks import check_class_splits
from medclass.data.run_data import prepare_data
from medclass.utils.errors import DataError


def _folders(root: Path, counts: dict[str, int]) -> Path:
    for c, (label, n) in enumerate(counts.items()):
        for i in range(n):
            write_image(root / label / f"{label}{i}.png", size=(24, 24), seed=1000 * c + i)
    return root


def _prepare(tmp_path: Path, **values):
    config = build_config(
        {"split": {"strategy": "stratified", "val_frac": 0.25, "test_frac": 0.25}},
        values={"data.cache_dir": str(tmp_path / "cache"), **values},
    )
    out = io.StringIO()
    data = prepare_data(config, tmp_path / "run", console=Console(file=out, width=200))
    return data, out.getvalue()


def test_check_names_small_class_with_typo_hint() -> None:
    table = pd.DataFrame(
        {"label": ["yes"] * 6 + ["no"] * 6 + ["yse"], "split": ["train", "val"] * 6 + ["train"]}
    )
    with pytest.raises(DataError, match=r"class 'yse' has 1 readable image.*did you mean 'yes'"):
        check_class_splits(table, ["no", "yes", "yse"], 5)


def test_check_case_typo_and_missing_split() -> None:
    table = pd.DataFrame(
        {"label": ["yes"] * 6 + ["no"] * 6 + ["Yes"], "split": ["train", "val"] * 6 + ["val"]}
    )
    with pytest.raises(DataError, match=r"'Yes'.*did you mean 'yes'"):
        check_class_splits(table, ["Yes", "no", "yes"], 5)
    only_test = pd.DataFrame({"label": ["a"] * 6 + ["b"] * 6, "split": ["train", "val"] * 3 + ["test"] * 6})
    with pytest.raises(
        DataError, match=r"class 'b' has no image in the train split \(train 0, val 0, test 6\)"
    ):
        check_class_splits(only_test, ["a", "b"], 5)
    no_val = pd.DataFrame({"label": ["a"] * 6 + ["b"] * 6, "split": ["train"] * 5 + ["val"] + ["train"] * 6})
    with pytest.raises(DataError, match=r"class 'b' has no image in the val split"):
        check_class_splits(no_val, ["a", "b"], 5)
    check_class_splits(no_val.assign(split="train"), ["a", "b"], 5)  # no val at all: nothing to validate


def test_class_whose_every_image_is_unreadable_is_an_error(tmp_path: Path) -> None:
    data = _folders(tmp_path / "data", {"a": 8, "b": 8})
    for path in (data / "b").iterdir():
        path.write_bytes(b"not an image")
    with pytest.raises(DataError, match=r"class 'b' has 0 readable image\(s\)"):
        _prepare(tmp_path, **{"data.path": str(data)})


def test_csv_manifest_with_typo_labels_is_an_error(tmp_path: Path) -> None:
    data = _folders(tmp_path / "data", {"no": 8, "yes": 8})
    rows = [(f"{p.parent.name}/{p.name}", p.parent.name) for p in sorted(data.rglob("*.png"))]
    rows[-1] = (rows[-1][0], "yse")
    rows[-2] = (rows[-2][0], "Yes")
    manifest = data / "labels.csv"
    pd.DataFrame(rows, columns=["path", "label"]).to_csv(manifest, index=False)
    with pytest.raises(DataError) as err:
        _prepare(tmp_path, **{"data.path": str(manifest)})
    message = str(err.value)
    assert "labels.csv" in message and "'yse'" in message and "'Yes'" in message
    assert message.count("did you mean 'yes'") == 2


def test_min_images_is_configurable(tmp_path: Path) -> None:
    data = _folders(tmp_path / "data", {"a": 4, "b": 8})
    with pytest.raises(DataError, match="fewer than data.min_images_per_class = 5"):
        _prepare(tmp_path, **{"data.path": str(data)})
    prepared, _ = _prepare(tmp_path, **{"data.path": str(data), "data.min_images_per_class": 4})
    assert prepared.classes == ["a", "b"]


def _splits_file(tmp_path: Path, rows: list[tuple[Path, str, str]]) -> Path:
    path = tmp_path / "my_splits.csv"
    pd.DataFrame(rows, columns=["path", "label", "split"]).to_csv(path, index=False)
    return path


def test_splits_file_with_a_class_only_in_test_is_an_error(tmp_path: Path) -> None:
    data = _folders(tmp_path / "data", {"a": 8, "b": 8})
    rows = [
        (p, p.parent.name, "test" if p.parent.name == "b" else ["train", "val"][i % 2])
        for i, p in enumerate(sorted(data.rglob("*.png")))
    ]
    with pytest.raises(DataError, match=r"(?s)my_splits.csv: .*class 'b' has no image in the train split"):
        _prepare(tmp_path, **{"split.splits_file": str(_splits_file(tmp_path, rows))})


def test_leak_in_a_splits_file_is_reported_like_in_a_manifest(tmp_path: Path) -> None:
    data = _folders(tmp_path / "data", {"a": 8, "b": 8})
    files = sorted(data.rglob("*.png"))
    copy = data / "a" / "copy_of_a0.png"
    shutil.copyfile(data / "a" / "a0.png", copy)
    rows = [(p, p.parent.name, ["train", "train", "val", "test"][i % 4]) for i, p in enumerate(files)]
    rows = [(p, lab, "train" if p.name == "a0.png" else s) for p, lab, s in rows] + [(copy, "a", "test")]
    prepared, printed = _prepare(tmp_path, **{"split.splits_file": str(_splits_file(tmp_path, rows))})
    report = prepared.report
    assert report["duplicates"]["exact"]["split_leaks"] == 1
    assert report["duplicate_policy"] != "kept in one split"
    assert "cross the given splits" in printed and "copy_of_a0.png" in " ".join(printed.split())
    assert report["data"].endswith("my_splits.csv")

    manifest = data / "labels.csv"  # the same rows as a manifest with a split column: the same words
    pd.DataFrame(rows, columns=["path", "label", "split"]).to_csv(manifest, index=False)
    prepared, printed_manifest = _prepare(
        tmp_path, **{"data.path": str(manifest), "split.strategy": "predefined"}
    )
    assert "cross the given splits" in printed_manifest
    assert prepared.report["duplicate_policy"] == report["duplicate_policy"]
