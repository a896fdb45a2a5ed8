"""Paths that are not regular files (FIFOs, devices, sockets, folders, broken links) never hang a reader."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest
from conftest import write_image

from medclass.data.cache import build_cache
from medclass.data.files import file_md5, file_problem, require_regular_file
from medclass.data.preprocess import PreprocessSettings
from medclass.data.readers import UnreadableImage, read_image
from medclass.data.scan import scan_files
from medclass.utils.errors import DataError

pytestmark = pytest.mark.timeout(60)  # a regression blocks on the FIFO: fail instead of hanging


def _odd_paths(tmp_path: Path) -> dict[str, Path]:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.png"
    folder.mkdir()
    broken = tmp_path / "broken.png"
    broken.symlink_to(tmp_path / "missing.png")
    device = tmp_path / "device.png"
    device.symlink_to("/dev/zero")
    sock = tmp_path / "s.png"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock))
    return {"fifo": fifo, "folder": folder, "broken": broken, "device": device, "socket": sock}


def test_file_problem_names_each_kind(tmp_path: Path) -> None:
    paths = _odd_paths(tmp_path)
    assert "FIFO" in file_problem(paths["fifo"])
    assert "folder" in file_problem(paths["folder"])
    assert file_problem(paths["broken"]) == "broken symbolic link"
    assert "device" in file_problem(paths["device"])
    assert "socket" in file_problem(paths["socket"])
    assert file_problem(write_image(tmp_path / "ok.png")) is None
    assert file_problem(tmp_path / "nope.png") == "file not found"
    assert "null character" in file_problem("scan\x00.png")


def test_readers_hashers_scan_and_cache_refuse_odd_paths(tmp_path: Path) -> None:
    paths = _odd_paths(tmp_path)
    good = write_image(tmp_path / "ok.png")
    for path in paths.values():
        with pytest.raises(UnreadableImage):
            read_image(path)
        assert isinstance(file_md5(path), str)
    infos = scan_files([good, *paths.values()], cache_dir=tmp_path / "cache", workers=1)
    assert [i.readable for i in infos] == [True] + [False] * len(paths)
    assert "FIFO" in infos[1].reason
    cache = build_cache([good, *paths.values()], PreprocessSettings(16), cache_dir=tmp_path / "cache")
    assert cache.readable.tolist() == [True] + [False] * len(paths)
    with pytest.raises(DataError, match="pipe.png: is a named pipe"):
        require_regular_file(paths["fifo"])


def test_growing_file_is_hashed_to_its_size_at_open(tmp_path: Path) -> None:
    path = write_image(tmp_path / "grow.png", size=(64, 64))
    size = path.stat().st_size
    stop = threading.Event()

    def append() -> None:
        with open(path, "ab") as handle:
            while not stop.is_set():
                handle.write(b"\0" * 65536)
                handle.flush()

    writer = threading.Thread(target=append, daemon=True)
    writer.start()
    try:
        time.sleep(0.05)
        start = time.monotonic()
        result = file_md5(path)
        assert isinstance(result, tuple) and result[1] >= size
        assert time.monotonic() - start < 10
    finally:
        stop.set()
        writer.join()
