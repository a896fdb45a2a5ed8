"""scan_files: hashes, image facts, unreadable files, the per-md5 store and the process pool."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from conftest import write_image
from rich.console import Console

from medclass.data import scan
from medclass.data.scan import FileInfo, scan_files


def _folder(tmp_path: Path) -> list[Path]:
    paths = [
        write_image(tmp_path / "a" / "img1.png", size=(40, 32), mode="L", seed=1),
        write_image(tmp_path / "a" / "img2.jpg", size=(20, 30), mode="RGB", seed=2),
        write_image(tmp_path / "b" / "img3.png", size=(16, 16), mode="I;16", seed=3),
    ]
    broken = tmp_path / "b" / "broken.png"
    broken.write_bytes(b"not really a png")
    return [*paths, broken]


def test_scan_reports_facts_and_reasons(tmp_path: Path) -> None:
    paths = _folder(tmp_path)
    infos = scan_files(paths, cache_dir=tmp_path / "cache", workers=1)
    assert [i.path for i in infos] == [str(p) for p in paths]
    by_name = {Path(i.path).name: i for i in infos}
    first = by_name["img1.png"]
    assert first.readable and first.reason is None
    assert (first.width, first.height, first.mode, first.format) == (40, 32, "L", "PNG")
    assert first.md5 == hashlib.md5(paths[0].read_bytes()).hexdigest()
    assert first.size_bytes == paths[0].stat().st_size
    assert 0 <= first.phash < 2**64
    assert by_name["img2.jpg"].format == "JPEG" and by_name["img2.jpg"].mode == "RGB"
    assert by_name["img3.png"].readable
    broken = by_name["broken.png"]
    assert not broken.readable and broken.reason and broken.phash is None and broken.md5


def test_missing_file_is_unreadable_not_an_error(tmp_path: Path) -> None:
    (info,) = scan_files([tmp_path / "gone.png"], cache_dir=tmp_path / "cache", workers=1)
    assert not info.readable and info.md5 == "" and info.reason == "file not found"


def test_second_scan_only_hashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = _folder(tmp_path)
    first = scan_files(paths, cache_dir=tmp_path / "cache", workers=1)

    def fail(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(scan, "read_image", fail)
    monkeypatch.setattr(scan, "image_info", fail)
    readable = [Path(i.path) for i in first if i.readable]
    assert scan_files(readable, cache_dir=tmp_path / "cache", workers=1) == [i for i in first if i.readable]


def test_cache_is_keyed_by_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = write_image(tmp_path / "a.png", seed=5)
    (first,) = scan_files([original], cache_dir=tmp_path / "cache", workers=1)
    copy = tmp_path / "elsewhere" / "b.png"
    copy.parent.mkdir()
    copy.write_bytes(original.read_bytes())
    monkeypatch.setattr(scan, "read_image", lambda *a, **k: pytest.fail("decoded a known content"))
    (second,) = scan_files([copy], cache_dir=tmp_path / "cache", workers=1)
    assert second == FileInfo(**{**first.__dict__, "path": str(copy)})


def test_changed_file_is_decoded_again(tmp_path: Path) -> None:
    path = write_image(tmp_path / "a.png", size=(10, 10), seed=1)
    scan_files([path], cache_dir=tmp_path / "cache", workers=1)
    write_image(path, size=(12, 14), seed=2)
    (info,) = scan_files([path], cache_dir=tmp_path / "cache", workers=1)
    assert (info.width, info.height) == (12, 14)


def test_process_pool_gives_the_same_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan, "_MIN_FILES_FOR_POOL", 4)
    paths = [write_image(tmp_path / f"img{i}.png", size=(24, 24), seed=i) for i in range(40)]
    pooled = scan_files(paths, cache_dir=tmp_path / "c1", workers=2)
    single = scan_files(paths, cache_dir=tmp_path / "c2", workers=1)
    assert pooled == single


def test_progress_is_a_bar_in_a_terminal_and_plain_lines_in_a_log(tmp_path: Path) -> None:
    files = [write_image(tmp_path / f"img{i}.png", seed=i) for i in range(5)]
    log = io.StringIO()
    scan_files(files, cache_dir=tmp_path / "cache", progress=True, console=Console(file=log, width=120))
    lines = log.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("  hashing 5/5 files in ") and lines[0].endswith(" s")
    assert lines[1].startswith("  decoding 5/5 files in ")
    assert "\x1b" not in log.getvalue()
    # A second scan decodes nothing: no decoding line.
    log = io.StringIO()
    scan_files(files, cache_dir=tmp_path / "cache", progress=True, console=Console(file=log, width=120))
    assert [line.split(" in ")[0] for line in log.getvalue().splitlines()] == ["  hashing 5/5 files"]
    # In a terminal: a transient bar with the count and the time left, no plain lines.
    screen = io.StringIO()
    terminal = Console(file=screen, width=120, force_terminal=True)
    scan_files(files, cache_dir=tmp_path / "other", progress=True, console=terminal)
    assert "hashing" in screen.getvalue() and "5/5" in screen.getvalue() and "eta" in screen.getvalue()
    assert "files in" not in screen.getvalue()
    # Without progress nothing is printed.
    quiet = io.StringIO()
    scan_files(files, cache_dir=tmp_path / "c3", console=Console(file=quiet))
    assert quiet.getvalue() == ""
