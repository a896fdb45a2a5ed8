"""discover: folder-per-class, nested, pre-split and CSV layouts; ignored files; clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_image

from medclass.data.discovery import DataIndex, Sample, discover
from medclass.utils.errors import DataError


def _tiny(path: Path, seed: int = 0) -> Path:
    return write_image(path, size=(8, 8), mode="L", seed=seed)


def _rel(index: DataIndex) -> list[str]:
    return [s.path.relative_to(index.root).as_posix() for s in index.samples]


# --- layouts ---------------------------------------------------------------------------------------------


def test_folder_per_class(image_folder: Path) -> None:
    index = discover(image_folder)
    assert index.layout == "folders" and not index.has_splits
    assert index.root == image_folder.absolute() and index.source == image_folder.absolute()
    assert index.classes == ["benign", "malignant"]
    assert index.class_counts() == {"benign": 12, "malignant": 12}
    assert all(s.path.is_absolute() and s.split is None and s.group is None for s in index.samples)
    names = [s.path.name for s in index.samples if s.label == "benign"]
    assert names[:3] == ["img0.JPG", "img1.png", "img2.JPG"] and names[-1] == "img11.png"  # natural order
    assert index.ignored == []


def test_nested_images_inside_class_folders(tmp_path: Path) -> None:
    for label in ("a", "b"):
        _tiny(tmp_path / label / "patient10" / "scan.png")
        _tiny(tmp_path / label / "patient2" / "deeper" / "scan.png")
        _tiny(tmp_path / label / "top.png")
    index = discover(tmp_path)
    assert index.layout == "folders"
    assert _rel(index) == [
        "a/patient2/deeper/scan.png", "a/patient10/scan.png", "a/top.png",
        "b/patient2/deeper/scan.png", "b/patient10/scan.png", "b/top.png",
    ]  # fmt: skip
    assert index.samples[0] == Sample(tmp_path / "a/patient2/deeper/scan.png", "a")


def test_presplit_train_val_test(tmp_path: Path) -> None:
    for split, n in (("train", 3), ("val", 1), ("test", 2)):
        for label in ("cat", "dog"):
            for i in range(n):
                _tiny(tmp_path / split / label / f"{i}.png")
    index = discover(tmp_path)
    assert index.layout == "presplit" and index.has_splits
    assert index.classes == ["cat", "dog"]
    assert index.split_counts() == {"train": 6, "val": 2, "test": 4}
    assert index.class_counts("test") == {"cat": 2, "dog": 2}
    assert {s.split for s in index.samples} == {"train", "val", "test"}


@pytest.mark.parametrize(
    ("folders", "expected"),
    [
        (("Training", "Testing"), {"train", "test"}),
        (("TRAIN", "Valid", "test"), {"train", "val", "test"}),
        (("train", "validation"), {"train", "val"}),
    ],
)
def test_presplit_names_are_normalised(tmp_path: Path, folders: tuple[str, ...], expected: set[str]) -> None:
    for folder in folders:
        for label in ("glioma", "notumor"):
            _tiny(tmp_path / folder / label / "x.jpg")
    index = discover(tmp_path)
    assert index.layout == "presplit"
    assert {s.split for s in index.samples} == expected


def test_csv_manifest(tmp_path: Path) -> None:
    _tiny(tmp_path / "imgs" / "a1.png")
    _tiny(tmp_path / "imgs" / "a2.png")
    _tiny(tmp_path / "imgs" / "b1.png")
    elsewhere = _tiny(tmp_path / "other" / "b2.png")
    manifest = tmp_path / "meta" / "manifest.csv"
    manifest.parent.mkdir()
    manifest.write_text(
        "\ufeffPath,Label,Split,Group\n"  # BOM and capitalised header, as spreadsheets write them
        "../imgs/a2.png,normal,train,p1\n"
        "../imgs/a1.png,normal,Training,p1\n"
        "\n"
        "../imgs/b1.png,tumour,valid,\n"
        f"{elsewhere},tumour,TEST,p3\n"
    )
    index = discover(manifest)
    assert index.layout == "csv" and index.has_splits
    assert index.root == manifest.parent.absolute() and index.source == manifest.absolute()
    assert index.classes == ["normal", "tumour"]
    by_name = {s.path.name: s for s in index.samples}
    assert by_name["a1.png"] == Sample(tmp_path / "imgs" / "a1.png", "normal", "train", "p1")
    assert by_name["b1.png"].split == "val" and by_name["b1.png"].group is None
    assert by_name["b2.png"].split == "test" and by_name["b2.png"].path == elsewhere
    assert [s.path.name for s in index.samples[:2]] == ["a1.png", "a2.png"]  # sorted, not in CSV order


def test_csv_without_optional_columns(tmp_path: Path) -> None:
    _tiny(tmp_path / "x.png")
    _tiny(tmp_path / "y.png")
    (tmp_path / "m.CSV").write_text("label,path\nno,x.png\nyes,y.png\n")
    index = discover(tmp_path / "m.CSV")
    assert not index.has_splits and index.class_counts() == {"no": 1, "yes": 1}


# --- ignored files ---------------------------------------------------------------------------------------


def test_hidden_and_non_image_files(tmp_path: Path) -> None:
    for label in ("no", "yes"):
        _tiny(tmp_path / label / "1.png")
        (tmp_path / label / ".DS_Store").write_bytes(b"junk")
        _tiny(tmp_path / label / "._1.png")  # macOS resource fork
        _tiny(tmp_path / label / ".ipynb_checkpoints" / "1-checkpoint.png")
    _tiny(tmp_path / ".hidden_class" / "x.png")
    _tiny(tmp_path / "__MACOSX" / "no" / "x.png")
    (tmp_path / "README.md").write_text("about the data")
    (tmp_path / "lesions.csv").write_text("file,x,y\n")
    (tmp_path / "yes" / "notes.txt").write_text("radiologist notes")
    (tmp_path / "yes" / "sub").mkdir()
    (tmp_path / "yes" / "sub" / "LICENSE").write_text("cc0")
    index = discover(tmp_path)
    assert index.classes == ["no", "yes"]
    assert _rel(index) == ["no/1.png", "yes/1.png"]
    assert sorted(index.ignored) == [
        (tmp_path / "yes" / "notes.txt", "not an image file (extension .txt)"),
        (tmp_path / "yes" / "sub" / "LICENSE", "not an image file (no extension)"),
    ]


def test_loose_image_beside_class_folders_is_listed(tmp_path: Path) -> None:
    _tiny(tmp_path / "a" / "1.png")
    _tiny(tmp_path / "b" / "1.png")
    _tiny(tmp_path / "stray.png")
    index = discover(tmp_path)
    assert len(index.samples) == 2
    assert index.ignored == [(tmp_path / "stray.png", "image file outside any class folder")]


# --- errors ----------------------------------------------------------------------------------------------


def _error(path: Path) -> str:
    with pytest.raises(DataError) as info:
        discover(path)
    return str(info.value)


def test_missing_path(tmp_path: Path) -> None:
    message = _error(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in message and "no such file or folder" in message
    assert "DIR/<class>/<image>" in message  # shows the expected layouts


def test_empty_folder(tmp_path: Path) -> None:
    message = _error(tmp_path)
    assert str(tmp_path) in message and "empty folder" in message and "Expected one of" in message


def test_images_directly_in_folder(tmp_path: Path) -> None:
    _tiny(tmp_path / "a.png")
    assert "one folder per class" in _error(tmp_path)


def test_one_class(tmp_path: Path) -> None:
    _tiny(tmp_path / "data" / "tumour" / "1.png")
    message = _error(tmp_path / "data")
    assert "only one class ('tumour')" in message and "at least two classes" in message


def test_one_class_hints_at_a_deeper_root(tmp_path: Path) -> None:
    _tiny(tmp_path / "dataset" / "a" / "1.png")
    _tiny(tmp_path / "dataset" / "b" / "1.png")
    message = _error(tmp_path)
    assert "only one class ('dataset')" in message and f"--data {tmp_path / 'dataset'}" in message


def test_empty_class_folder(tmp_path: Path) -> None:
    _tiny(tmp_path / "a" / "1.png")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "notes.txt").write_text("x")
    message = _error(tmp_path)
    assert str(tmp_path / "b") in message and "class folder 'b' has no image file" in message


def test_mixed_split_and_class_folders(tmp_path: Path) -> None:
    _tiny(tmp_path / "train" / "a" / "1.png")
    _tiny(tmp_path / "cats" / "1.png")
    message = _error(tmp_path)
    assert "mixes split folders (train)" in message and "(cats)" in message


def test_presplit_errors(tmp_path: Path) -> None:
    _tiny(tmp_path / "val" / "a" / "1.png")
    _tiny(tmp_path / "validation" / "b" / "1.png")
    assert "both the val split" in _error(tmp_path)

    other = tmp_path / "other"
    _tiny(other / "train" / "a" / "1.png")
    _tiny(other / "test" / "a" / "1.png")
    _tiny(other / "test" / "b" / "1.png")
    assert "class(es) b have no folder in the training split 'train'" in _error(other)

    empty = tmp_path / "empty"
    _tiny(empty / "train" / "a" / "1.png")
    _tiny(empty / "train" / "b" / "1.png")
    (empty / "test").mkdir()
    assert "split folder 'test' has no class folders" in _error(empty)


def test_not_a_csv_file(tmp_path: Path) -> None:
    (tmp_path / "list.txt").write_text("a.png,x\n")
    assert "not a .csv manifest" in _error(tmp_path / "list.txt")


def test_csv_missing_column(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,diagnosis\na.png,x\n")
    message = _error(manifest)
    assert str(manifest) in message and "line 1 (header)" in message and "'label'" in message
    assert "'diagnosis'" in message  # what was found


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ("x.png,a,train\nmissing.png,b,train\n", "line 3, column 'path': file not found"),
        ("x.png,a,train\ny.png,b,holdout\n", "line 3, column 'split': unknown value 'holdout'"),
        ("x.png,a,train\ny.png,,train\n", "line 3, column 'label': empty"),
        ("x.png,a,train\n,b,train\n", "line 3, column 'path': empty"),
        ("x.png,a,train\nx.png,b,test\n", "line 3, column 'path': x.png already listed on line 2"),
        ("x.png,a,train\nnotes.txt,b,train\n", "line 3, column 'path': not an image file (extension .txt)"),
        ("x.png,a,train\ny.png,a,test\n", "only one class ('a')"),
    ],
)
def test_bad_csv_rows(tmp_path: Path, rows: str, expected: str) -> None:
    _tiny(tmp_path / "x.png")
    _tiny(tmp_path / "y.png")
    (tmp_path / "notes.txt").write_text("x")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label,split\n" + rows)
    message = _error(manifest)
    assert str(manifest) in message and expected in message


def test_empty_csv(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("")
    assert "empty CSV manifest" in _error(tmp_path / "m.csv")
    (tmp_path / "h.csv").write_text("path,label\n")
    assert "lists no image" in _error(tmp_path / "h.csv")


# --- real data -------------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_real_presplit_layout(shared_datasets: Path) -> None:
    index = discover(shared_datasets / "brain_tumor_mri_4class")
    assert index.layout == "presplit" and index.split_counts() == {"train": 5708}
    assert index.classes == ["glioma", "meningioma", "notumor", "pituitary"]
