"""Split strategies: property checks (disjoint, complete, stratified, groups/duplicates intact), CSV I/O."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_image
from PIL import Image

from medclass.config.schema import SplitConfig
from medclass.data.discovery import discover
from medclass.data.scan import scan_files
from medclass.data.splits import (
    make_splits,
    read_splits,
    split_summary,
    stratified_assignment,
    write_splits,
)
from medclass.utils.errors import DataError

SIZES = {"a": 23, "b": 11, "c": 7}


def _smooth(path: Path, seed: int, size: int = 48) -> Path:
    """Smooth random grey image: its perceptual hash survives resizing and JPEG (unlike pure noise)."""
    coarse = np.random.default_rng(seed).integers(0, 256, (6, 6), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(coarse).resize((size, size), Image.BICUBIC).save(path)
    return path


def _dataset(root: Path, sizes: dict[str, int] = SIZES, name: str = "img{i}.png") -> Path:
    for c, (label, n) in enumerate(sizes.items()):
        for i in range(1, n + 1):
            write_image(root / label / name.format(i=i), size=(16, 16), seed=1000 * c + i)
    return root


def _split(root: Path, tmp_path: Path, seed: int = 0, **cfg) -> tuple[pd.DataFrame, list]:
    index = discover(root)
    infos = scan_files([s.path for s in index.samples], cache_dir=tmp_path / "cache", workers=1)
    return make_splits(index, infos, SplitConfig(**cfg), seed), infos


def _check_complete(table: pd.DataFrame, infos: list) -> None:
    """Every readable file exactly once, nothing else, valid split names, absolute paths."""
    assert list(table.columns[:3]) == ["path", "label", "split"]
    assert table["path"].is_unique
    assert sorted(table["path"]) == sorted(i.path for i in infos if i.readable)
    assert set(table["split"]) <= {"train", "val", "test"}
    assert all(Path(p).is_absolute() for p in table["path"])


def _check_stratified(table: pd.DataFrame, fractions: dict[str, float]) -> None:
    for label, rows in table.groupby("label"):
        for split, frac in fractions.items():
            assert abs((rows["split"] == split).sum() - len(rows) * frac) < 1, (label, split)


def _components_intact(table: pd.DataFrame, sets: list[set[str]]) -> bool:
    split_of = dict(zip(table["path"], table["split"], strict=True))
    return all(len({split_of[p] for p in members}) == 1 for members in sets)


# --- the assignment core ------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(
    "fractions", [(0.15, 0.15, 0.7), (0.2, 0.8), (0.25, 0.25, 0.25, 0.25), (0.1, 0.3, 0.6)]
)
def test_assignment_is_within_one_image_per_class(seed: int, fractions: tuple[float, ...]) -> None:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 60, size=5)
    labels = np.repeat([f"c{k}" for k in range(5)], sizes)
    chosen = stratified_assignment(labels, None, fractions, np.random.default_rng(seed))
    for k, n in enumerate(sizes):
        counts = np.bincount(chosen[labels == f"c{k}"], minlength=len(fractions))
        assert np.all(np.abs(counts - n * np.array(fractions)) < 1), (n, counts)


def test_assignment_keeps_groups_and_stays_close() -> None:
    rng = np.random.default_rng(3)
    labels = np.repeat(["x", "y"], [300, 200])
    groups = np.concatenate([rng.integers(0, 120, 300), 1000 + rng.integers(0, 90, 200)])
    chosen = stratified_assignment(labels, groups, [0.2, 0.8], np.random.default_rng(0))
    for g in np.unique(groups):
        assert len(set(chosen[groups == g])) == 1
    for label, n in (("x", 300), ("y", 200)):
        assert abs((chosen[labels == label] == 0).sum() - 0.2 * n) <= 6  # groups are small: close to 20%


def test_assignment_depends_on_the_seed_only() -> None:
    labels = ["a"] * 30 + ["b"] * 20
    first = stratified_assignment(labels, None, [0.3, 0.7], np.random.default_rng(7))
    assert (first == stratified_assignment(labels, None, [0.3, 0.7], np.random.default_rng(7))).all()
    assert (first != stratified_assignment(labels, None, [0.3, 0.7], np.random.default_rng(8))).any()


# --- strategies ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_stratified_is_complete_disjoint_and_stratified(tmp_path: Path, seed: int) -> None:
    root = _dataset(tmp_path / "data")
    (tmp_path / "data" / "a" / "broken.png").write_bytes(b"garbage")
    table, infos = _split(root, tmp_path, seed, strategy="stratified", val_frac=0.2, test_frac=0.3)
    _check_complete(table, infos)
    assert not any(p.endswith("broken.png") for p in table["path"])
    assert any("unreadable" in n for n in table.attrs["notes"])
    _check_stratified(table, {"test": 0.3, "val": 0.2, "train": 0.5})
    assert "fold" not in table.columns and "group" not in table.columns


def test_auto_is_stratified_for_folders_and_predefined_for_presplit(tmp_path: Path) -> None:
    folders = _dataset(tmp_path / "folders")
    assert _split(folders, tmp_path)[0].attrs["strategy"] == "stratified"
    presplit = tmp_path / "presplit"
    _dataset(presplit / "train", {"a": 5, "b": 5})
    _dataset(presplit / "test", {"a": 2, "b": 2}, name="t{i}.png")
    table, _ = _split(presplit, tmp_path)
    assert table.attrs["strategy"] == "predefined"


def test_sorted_id_takes_the_first_files_by_natural_name_order(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "data", {"healthy": 25, "tb": 12})
    table, infos = _split(root, tmp_path, strategy="sorted-id", test_frac=0.2, val_frac=0.2)
    _check_complete(table, infos)
    for label, n in (("healthy", 25), ("tb", 12)):
        numbers = sorted(range(1, n + 1))  # img2 before img10: numeric order of the id
        expected = {f"img{i}.png" for i in numbers[: round(n * 0.2)]}
        rows = table[table["label"] == label]
        assert {Path(p).name for p in rows.loc[rows["split"] == "test", "path"]} == expected
        assert abs((rows["split"] == "val").sum() - n * 0.2) < 1
    # Each class's files per split, as ranges of the natural name order (img2 before img10).
    notes = [n for n in table.attrs["notes"] if n.startswith("sorted-id healthy:")]
    assert len(notes) == 1 and notes[0].startswith(
        "sorted-id healthy: test img1.png-img5.png (5); val 5 files"
    )
    assert any(n.startswith("sorted-id tb: test img1.png-img2.png (2); val ") for n in table.attrs["notes"])
    # Deterministic test set, whatever the seed; val changes with the seed.
    other, _ = _split(root, tmp_path, seed=5, strategy="sorted-id", test_frac=0.2, val_frac=0.2)
    assert set(other.loc[other["split"] == "test", "path"]) == set(
        table.loc[table["split"] == "test", "path"]
    )


def test_sorted_id_pulls_copies_of_test_images_into_test(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "data", {"a": 10, "b": 10})
    shutil.copy(root / "a" / "img1.png", root / "a" / "img9999.png")  # a copy of a test image, sorted last
    table, _ = _split(root, tmp_path, strategy="sorted-id", test_frac=0.2, val_frac=0.0)
    test = {Path(p).name for p in table.loc[(table["split"] == "test") & (table["label"] == "a"), "path"]}
    assert test == {"img1.png", "img2.png", "img9999.png"}
    assert any("joined the test set" in n for n in table.attrs["notes"])
    assert (
        "sorted-id a: test 3 files in 2 runs: img1.png-img2.png, img9999.png; train img3.png-img10.png (8)"
        in (table.attrs["notes"])
    )
    verbatim, _ = _split(
        root, tmp_path, strategy="sorted-id", test_frac=0.2, val_frac=0.0, allow_duplicate_leakage=True
    )
    test = {
        Path(p).name for p in verbatim.loc[(verbatim["split"] == "test") & (verbatim["label"] == "a"), "path"]
    }
    assert test == {"img1.png", "img2.png"}


@pytest.mark.parametrize("test_frac", [0.0, 0.2])
def test_kfold_folds_are_disjoint_balanced_and_test_is_held_out(tmp_path: Path, test_frac: float) -> None:
    root = _dataset(tmp_path / "data")
    table, infos = _split(root, tmp_path, strategy="kfold", folds=3, test_frac=test_frac)
    _check_complete(table, infos)
    test = table["split"] == "test"
    assert table.loc[test, "fold"].isna().all()
    assert (table.loc[~test, "split"] == "train").all()
    assert set(table.loc[~test, "fold"]) == {0, 1, 2}
    _check_stratified(table, {"test": test_frac})
    for _, rows in table[~test].groupby("label"):
        per_fold = rows["fold"].value_counts().reindex([0, 1, 2], fill_value=0)
        assert per_fold.max() - per_fold.min() <= 1
    assert "fold 0" in split_summary(table).columns


def test_group_strategy_keeps_patients_together(tmp_path: Path) -> None:
    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    seed = 0
    for label, patients in (("a", 14), ("b", 9)):
        for p in range(patients):
            for s in range(int(rng.integers(1, 5))):
                seed += 1
                write_image(root / label / f"{label}pat{p}_slice{s}.png", size=(16, 16), seed=seed)
    table, infos = _split(root, tmp_path, strategy="group", group_regex=r"^(\w+?)_slice", test_frac=0.25)
    _check_complete(table, infos)
    assert (table.groupby("group")["split"].nunique() == 1).all()
    assert set(table["group"]) == {re.match(r"^(\w+?)_", Path(p).name).group(1) for p in table["path"]}


def test_group_strategy_errors(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "data", {"a": 3, "b": 3})
    with pytest.raises(DataError, match="needs group ids"):
        _split(root, tmp_path, strategy="group")
    with pytest.raises(DataError, match=r"img\d\.png"):
        _split(root, tmp_path, strategy="group", group_regex=r"^patient(\d+)")


def test_csv_groups_are_respected_by_stratified(tmp_path: Path) -> None:
    images = _dataset(tmp_path / "data", {"a": 12, "b": 12})
    rows = [
        f"{p.relative_to(tmp_path).as_posix()},{p.parent.name},pt{i // 3}"
        for i, p in enumerate(sorted(images.rglob("*.png")))
    ]
    (tmp_path / "manifest.csv").write_text("path,label,group\n" + "\n".join(rows) + "\n")
    table, _ = _split(tmp_path / "manifest.csv", tmp_path, strategy="stratified", test_frac=0.25)
    assert "group" in table.columns
    assert (table.groupby("group")["split"].nunique() == 1).all()


def _dataset_with_duplicates(root: Path) -> list[set[str]]:
    """Smooth images in 2 classes, plus exact copies (across classes) and near copies (resized, JPEG)."""
    for c, label in enumerate(("a", "b")):
        for i in range(12):
            _smooth(root / label / f"img{i}.png", seed=100 * c + i)
    original = root / "a" / "img0.png"
    for k in range(6):
        shutil.copy(original, root / ("a" if k % 2 else "b") / f"copy{k}.png")
    with Image.open(root / "b" / "img3.png") as image:
        image.resize((30, 30), Image.BILINEAR).save(root / "a" / "small.png")
        image.convert("RGB").save(root / "b" / "reencoded.jpg", quality=60)
    exact = {str(original), *(str(p) for p in root.rglob("copy*.png"))}
    near = {str(root / "b" / "img3.png"), str(root / "a" / "small.png"), str(root / "b" / "reencoded.jpg")}
    return [exact, near]


@pytest.mark.parametrize("strategy", ["stratified", "kfold"])
def test_duplicates_never_cross_splits(tmp_path: Path, strategy: str) -> None:
    root = tmp_path / "data"
    components = _dataset_with_duplicates(root)
    for seed in range(4):
        table, infos = _split(root, tmp_path, seed, strategy=strategy, test_frac=0.4, val_frac=0.2, folds=2)
        _check_complete(table, infos)
        assert "2 duplicate group(s) (10 files) kept within one split each" in table.attrs["notes"]
        assert _components_intact(table, components)
        if strategy == "kfold":
            fold_of = dict(zip(table["path"], table["fold"], strict=True))
            assert all(len({fold_of[p] for p in members}) == 1 for members in components)


def test_allow_duplicate_leakage_lets_copies_split(tmp_path: Path) -> None:
    root = tmp_path / "data"
    components = _dataset_with_duplicates(root)
    leaked = [
        not _components_intact(
            _split(root, tmp_path, seed, test_frac=0.4, val_frac=0.2, allow_duplicate_leakage=True)[0],
            components,
        )
        for seed in range(4)
    ]
    assert any(leaked)


def test_predefined_carves_val_from_train_and_reports_leaks(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _dataset(root / "Training", {"a": 20, "b": 10})
    _dataset(root / "Testing", {"a": 4, "b": 4}, name="t{i}.png")
    shutil.copy(root / "Training" / "a" / "img1.png", root / "Testing" / "a" / "leak.png")
    table, infos = _split(root, tmp_path, strategy="predefined", val_frac=0.2, test_frac=0.5)
    _check_complete(table, infos)
    test_names = {Path(p).parent.parent.name for p in table.loc[table["split"] == "test", "path"]}
    assert (
        test_names == {"Testing"} and (table["split"] == "test").sum() == 9
    )  # given test kept, nothing moved
    train_part = table[table["path"].str.contains("/Training/")]
    _check_stratified(train_part, {"val": 0.2, "train": 0.8})
    leak_split = table.set_index("path")["split"]
    assert leak_split[str(root / "Testing" / "a" / "leak.png")] == "test"
    assert leak_split[str(root / "Training" / "a" / "img1.png")] in ("train", "val")
    assert any("cross the given splits" in n for n in table.attrs["notes"])


def test_predefined_without_splits_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="predefined"):
        _split(_dataset(tmp_path / "data", {"a": 3, "b": 3}), tmp_path, strategy="predefined")


# --- CSV ----------------------------------------------------------------------------------------------------


def test_write_read_roundtrip_with_relative_paths(tmp_path: Path) -> None:
    table, _ = _split(_dataset(tmp_path / "data"), tmp_path, strategy="kfold", folds=3, test_frac=0.2)
    written = write_splits(table, tmp_path / "out" / "splits.csv")
    back = read_splits(written, classes=["a", "b", "c"])
    pd.testing.assert_frame_equal(back, table[["path", "label", "split", "fold"]], check_dtype=False)
    assert str(back["fold"].dtype) == "Int64"
    (tmp_path / "rel.csv").write_text("path,label,split\ndata/a/img1.png,a,train\n")
    assert read_splits(tmp_path / "rel.csv")["path"].tolist() == [str(tmp_path / "data" / "a" / "img1.png")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("path,label\nx.png,a\n", r"line 1 \(header\): missing column\(s\) 'split'"),
        (
            "path,label,split\nx.png,a,train\ny.png,a,holdout\n",
            r"line 3, column 'split': unknown value 'holdout'",
        ),
        (
            "path,label,split\nx.png,a,train\ny.png,zebra,test\n",
            r"line 3, column 'label': unknown label 'zebra'",
        ),
        (
            "path,label,split\nx.png,a,train\nx.png,a,test\n",
            r"line 3, column 'path': x.png already listed on line 2",
        ),
        ("path,label,split,fold\nx.png,a,train,one\n", r"line 2, column 'fold'"),
    ],
)
def test_read_splits_errors_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "splits.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as info:
        read_splits(path, classes=["a", "b"])
    assert str(path) in str(info.value)


def test_read_splits_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        read_splits(tmp_path / "nope.csv")


def test_split_summary_counts_and_totals() -> None:
    table = pd.DataFrame(
        {
            "path": list("pqrstu"),
            "label": ["a", "a", "a", "b", "b", "b"],
            "split": ["train"] * 3 + ["test", "val", "train"],
        }
    )
    summary = split_summary(table)
    assert list(summary.columns) == ["train", "val", "test", "total"]
    assert summary.loc["a"].tolist() == [3, 0, 0, 3]
    assert summary.loc["total"].tolist() == [4, 1, 1, 6]


# --- edge cases of the assignment core and the predefined strategy (from surviving mutants) -----------------


def test_assignment_normalises_fractions_and_handles_tiny_inputs() -> None:
    labels = ["a"] * 17 + ["b"] * 9
    relative = stratified_assignment(labels, None, [7, 1.5, 1.5], np.random.default_rng(4))
    shares = stratified_assignment(labels, None, [0.7, 0.15, 0.15], np.random.default_rng(4))
    assert (relative == shares).all()
    empty = stratified_assignment([], None, [0.5, 0.5], np.random.default_rng(0))
    assert empty.shape == (0,) and empty.dtype == np.int64
    assert stratified_assignment(["a"], None, [0.5, 0.5], np.random.default_rng(0)).tolist() == [0]
    assert stratified_assignment(["a", "b", "a"], None, [1.0], np.random.default_rng(0)).tolist() == [0, 0, 0]
    for bad in ([0.0, 1.0], [-0.2, 1.2], [], [[0.5, 0.5]]):
        with pytest.raises(ValueError, match="positive"):
            stratified_assignment(["a", "b"], None, bad, np.random.default_rng(0))


@pytest.mark.parametrize("seed", range(4))
def test_assignment_places_the_largest_groups_first(seed: int) -> None:
    # One group of 5 and five single images, halved: only largest-first meets both quotas exactly.
    labels = ["a"] * 10
    groups = ["big"] * 5 + [f"s{i}" for i in range(5)]
    chosen = stratified_assignment(labels, groups, [0.5, 0.5], np.random.default_rng(seed))
    assert np.bincount(chosen, minlength=2).tolist() == [5, 5]


def test_assignment_follows_the_quota_of_every_class_a_group_touches() -> None:
    # Mixed groups: each holds an "a" and a "b"; 4 pairs and 4 single "a"s into 50/50. Balancing by the
    # squared distance to both classes' quotas puts 2 pairs and 2 singles on each side.
    labels = ["a", "b"] * 4 + ["a"] * 4
    groups = [f"p{i // 2}" for i in range(8)] + [f"s{i}" for i in range(4)]
    chosen = stratified_assignment(labels, groups, [0.5, 0.5], np.random.default_rng(1))
    labels = np.array(labels)
    assert np.bincount(chosen[labels == "a"], minlength=2).tolist() == [4, 4]
    assert np.bincount(chosen[labels == "b"], minlength=2).tolist() == [2, 2]


def _predefined(given: list, val_frac: float) -> tuple[list, list[str]]:
    from medclass.data.splits import _predefined_split

    n = len(given)
    labels = np.array(["a", "b"] * (n // 2) + ["a"] * (n % 2), dtype=object)
    notes: list[str] = []
    split = _predefined_split(
        np.array(given, dtype=object),
        labels,
        np.array([""] * n, dtype=object),
        val_frac,
        np.random.default_rng(0),
        notes,
    )
    return split.tolist(), notes


def test_predefined_split_names_are_normalised_in_any_case() -> None:
    split, notes = _predefined(["Training", "TEST", "Validation", "train", "Testing", "VAL"], 0.1)
    assert split == ["train", "test", "val", "train", "test", "val"] and notes == []


def test_predefined_carves_val_only_when_asked_and_says_so() -> None:
    split, notes = _predefined(["train"] * 20 + ["test"] * 4, 0.2)  # 20% of 10 "a" and 10 "b" train images
    assert split.count("val") == 4 and split.count("test") == 4 and split[20:] == ["test"] * 4
    assert notes == ["predefined: no val split given; 4 train image(s) became val"]
    split, notes = _predefined(["train"] * 20 + ["test"] * 4, 0.0)
    assert split.count("val") == 0 and notes == []
    split, notes = _predefined(["train"] * 10, 0.2)
    assert split.count("val") == 2
    assert notes[-1] == "predefined: the data set has no test split"


def test_predefined_rows_without_a_split_are_an_error() -> None:
    with pytest.raises(DataError, match=r"^2 image\(s\) have no split .*another --strategy$"):
        _predefined(["train", None, "test", None], 0.1)


def test_two_way_shares_at_the_ends() -> None:
    from medclass.data.splits import _two_way

    labels, groups = np.array(["a", "b", "a", "b"], dtype=object), np.array([""] * 4, dtype=object)
    rng = np.random.default_rng(0)
    assert _two_way(labels, groups, "val", 0.0, rng).tolist() == ["train"] * 4
    assert _two_way(labels, groups, "val", 1.0, rng).tolist() == ["val"] * 4
    assert _two_way(labels, groups, "val", 0.5, rng).tolist().count("val") == 2
