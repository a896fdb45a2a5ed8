"""Exact and near-duplicate groups, their relation to classes and splits, and the vectorised hash graph."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medclass.data import duplicates
from medclass.data.duplicates import (
    DEFAULT_NEAR_DUP_DISTANCE,
    find_duplicates,
    hash_components,
    popcount64,
)
from medclass.data.scan import FileInfo, scan_files


def _info(path: str, md5: str, phash: int | None, readable: bool = True) -> FileInfo:
    return FileInfo(path, md5, 10, readable, None if readable else "broken", 8, 8, "L", "PNG", phash)


def _smooth_image(path: Path, seed: int, size: int = 96) -> Path:
    """A smooth random grey image (low frequencies carry the content, as in real scans)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (6, 6), dtype=np.uint8)
    image = Image.fromarray(coarse).resize((size, size), Image.BICUBIC)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def test_popcount_matches_python() -> None:
    values = np.array([0, 1, 2**64 - 1, 0xF0F0, 2**63], dtype=np.uint64)
    assert popcount64(values).tolist() == [bin(int(v)).count("1") for v in values]


def test_hash_components_match_brute_force_across_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(duplicates, "_BLOCK_ELEMENTS", 500)  # force many row blocks
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2**63, 120, dtype=np.uint64)
    # Flipped bits in one chunk and spread over the chunks of the multi-index search (d + 1 chunks of 64 bits).
    spread = [np.uint64((1 << 0) | (1 << 40)), np.uint64((1 << 5) | (1 << 21) | (1 << 22) | (1 << 63))]
    hashes = np.concatenate(
        [
            base,
            base[:30] ^ np.uint64(0b11),
            base[:10] ^ np.uint64(0b1100),
            base[:5],
            *(base[40:60] ^ f for f in spread),
        ]
    )
    for threshold in (0, 1, 2, 3, 4, 7, 22):
        got = hash_components(hashes, threshold)
        close = popcount64(hashes[:, None] ^ hashes[None, :]) <= threshold
        # Expected: transitive closure of `close`.
        reach = close.copy()
        while True:
            grown = (reach.astype(np.int32) @ close.astype(np.int32)) > 0
            if (grown == reach).all():
                break
            reach = grown
        assert (np.equal.outer(got, got) == reach).all(), threshold


def test_exact_groups_and_extra_copies() -> None:
    infos = [_info(f"/d/a/{i}.png", "m1", 1) for i in range(3)]
    infos += [_info("/d/a/x.png", "m2", 2**40), _info("/d/b/y.png", "m3", 2**50)]
    labels = {i.path: Path(i.path).parent.name for i in infos}
    report = find_duplicates(infos, labels, near_distance=0)
    assert len(report.exact) == 1
    assert report.exact[0].paths == ["/d/a/0.png", "/d/a/1.png", "/d/a/2.png"]
    assert report.exact[0].extra_copies == 2
    assert report.exact[0].relation == "within-class"
    summary = report.to_dict()
    assert summary["exact"]["groups"] == 1 and summary["exact"]["extra_copies"] == 2
    assert summary["near"]["groups"] == 0  # one content only: an exact group is not a near group
    json.dumps(summary)


def test_unreadable_copies_still_form_exact_groups() -> None:
    infos = [_info("/d/a/1.png", "m1", None, readable=False), _info("/d/a/2.png", "m1", None, readable=False)]
    report = find_duplicates(infos, {i.path: "a" for i in infos})
    assert len(report.exact) == 1 and not report.near


def test_relation_classification() -> None:
    infos = [
        _info("/d/a/1.png", "m1", 0),
        _info("/d/a/2.png", "m1", 0),  # within-class
        _info("/d/a/3.png", "m2", 2**20),
        _info("/d/b/3.png", "m2", 2**20),  # across classes
        _info("/d/a/4.png", "m3", 2**30),
        _info("/d/a/5.png", "m3", 2**30),  # across splits
        _info("/d/a/6.png", "m4", 2**40),
        _info("/d/b/6.png", "m4", 2**40),  # across classes and splits
    ]
    labels = {i.path: Path(i.path).parent.name for i in infos}
    splits = {i.path: "train" for i in infos} | {"/d/a/5.png": "test", "/d/b/6.png": "test"}
    report = find_duplicates(infos, labels, splits, near_distance=0)
    relation = {g.paths[0]: (g.relation, g.label_conflict, g.split_leak) for g in report.exact}
    assert relation == {
        "/d/a/1.png": ("within-class", False, False),
        "/d/a/3.png": ("across-classes", True, False),
        "/d/a/4.png": ("across-splits", False, True),
        "/d/a/6.png": ("across-classes", True, True),
    }


def test_near_groups_are_components_with_two_contents() -> None:
    infos = [
        _info("/d/a/1.png", "m1", 0b0),
        _info("/d/a/1copy.png", "m1", 0b0),
        _info("/d/a/2.png", "m2", 0b11),  # 2 bits from 1
        _info("/d/a/3.png", "m3", 0b1111),  # 2 bits from 2, 4 from 1: joined through 2
        _info("/d/a/4.png", "m4", 2**63 | 2**62 | 2**61 | 2**60 | 2**59),
    ]
    report = find_duplicates(infos, {i.path: "a" for i in infos}, near_distance=2)
    assert [g.paths for g in report.near] == [["/d/a/1.png", "/d/a/1copy.png", "/d/a/2.png", "/d/a/3.png"]]
    ids = report.group_ids()
    assert len({ids[p] for p in report.near[0].paths}) == 1 and "/d/a/4.png" not in ids
    assert not find_duplicates(infos, {i.path: "a" for i in infos}, near_distance=0).near


def test_group_ids_union_exact_and_near() -> None:
    # An unreadable exact pair has no phash; a near pair elsewhere; ids are distinct per component.
    infos = [
        _info("/d/a/u1.png", "mu", None, readable=False),
        _info("/d/a/u2.png", "mu", None, readable=False),
        _info("/d/a/n1.png", "m1", 0),
        _info("/d/a/n2.png", "m2", 1),
    ]
    ids = find_duplicates(infos, {i.path: "a" for i in infos}, near_distance=2).group_ids()
    assert ids["/d/a/u1.png"] == ids["/d/a/u2.png"] != ids["/d/a/n1.png"] == ids["/d/a/n2.png"]


def test_near_copies_found_on_real_files(tmp_path: Path) -> None:
    original = _smooth_image(tmp_path / "a" / "orig.png", seed=1)
    shutil.copy(original, tmp_path / "a" / "copy.png")
    (tmp_path / "b").mkdir()
    with Image.open(original) as image:
        image.resize((48, 48), Image.BILINEAR).save(tmp_path / "b" / "small.png")  # to another class
        image.save(tmp_path / "a" / "reencoded.jpg", quality=60)
    unrelated = _smooth_image(tmp_path / "a" / "other.png", seed=2)
    paths = sorted(str(p) for p in tmp_path.rglob("*.*"))
    infos = scan_files(paths, cache_dir=tmp_path / "cache", workers=1)
    labels = {p: Path(p).parent.name for p in paths}
    report = find_duplicates(infos, labels)
    assert report.near_distance == DEFAULT_NEAR_DUP_DISTANCE
    assert len(report.exact) == 1 and report.exact[0].relation == "within-class"
    assert len(report.near) == 1
    near = report.near[0]
    copies = {p for p in paths if Path(p).stem in ("copy", "small", "reencoded")}
    assert set(near.paths) == {str(original), *copies}
    assert str(unrelated) not in near.paths
    assert near.relation == "across-classes" and near.label_conflict
