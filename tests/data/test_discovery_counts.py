"""Counts and messages of a discovered data set: a class missing from a split counts 0, and the two kinds of
layout error (with the layout help, or a short one about one class folder)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_image

from medclass.data.discovery import LAYOUT_HELP, discover
from medclass.utils.errors import DataError


def test_a_class_absent_from_a_split_counts_zero(tmp_path: Path) -> None:
    for split, label, n in [("train", "no", 3), ("train", "yes", 2), ("test", "no", 2)]:
        for i in range(n):
            write_image(tmp_path / split / label / f"{label}{i}.png", size=(8, 8), seed=i)
    index = discover(tmp_path)
    assert index.classes == ["no", "yes"]
    assert index.class_counts() == {"no": 5, "yes": 2}
    assert index.class_counts("train") == {"no": 3, "yes": 2}
    assert index.class_counts("test") == {"no": 2, "yes": 0}
    assert index.class_counts("val") == {"no": 0, "yes": 0}
    assert index.split_counts() == {"train": 5, "test": 2}


def test_layout_errors_carry_the_layout_help_and_class_errors_do_not(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as caught:
        discover(tmp_path / "empty")
    assert str(caught.value) == f"{tmp_path / 'empty'}: empty folder (no class folders)\n{LAYOUT_HELP}"
    write_image(tmp_path / "data" / "cat" / "a.png", size=(8, 8))
    (tmp_path / "data" / "dog").mkdir()
    (tmp_path / "data" / "dog" / "notes.txt").write_text("no images here")
    with pytest.raises(DataError) as caught:
        discover(tmp_path / "data")
    assert str(caught.value) == f"{tmp_path / 'data' / 'dog'}: class folder 'dog' has no image file"
