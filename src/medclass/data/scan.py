"""Scan image files once: content hash, readability, size/mode/format and a perceptual hash.

The md5 of the bytes is computed for every file on every scan (cheap). Decoding is the expensive part, so
its results are kept per md5 in a small SQLite store under the cache folder: a second scan of the same data
(or of a copy of it) only hashes bytes. Failures are not stored, because whether a file decodes can depend
on the installed readers. Decoding runs in a process pool.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image
from rich.console import Console

from medclass.data.files import file_md5
from medclass.data.readers import UnreadableImage, image_info, read_image
from medclass.utils.paths import cache_dir as default_cache_dir
from medclass.utils.progress import track

# Bump when the decoded facts change (reader rules, hash function): old entries are then ignored.
SCAN_CACHE_VERSION = 2
_CACHE_NAME = f"scan-v{SCAN_CACHE_VERSION}.sqlite"
# Below this many files to decode, starting worker processes costs more than it saves.
_MIN_FILES_FOR_POOL = 64


@dataclass(frozen=True)
class FileInfo:
    """What a scan learned about one file.

    Attributes:
        path: The file, as given to :func:`scan_files`.
        md5: Hex md5 of the bytes (``""`` when the file cannot be read at all).
        size_bytes: File size.
        readable: Whether :func:`medclass.data.readers.read_image` decodes it.
        reason: Why not (``None`` when readable).
        width, height, mode, format: From :func:`medclass.data.readers.image_info` (``None`` if unreadable).
        phash: 64-bit perceptual hash (``imagehash.phash`` of the grey image) as an int, or ``None``.
    """

    path: str
    md5: str
    size_bytes: int
    readable: bool
    reason: str | None
    width: int | None
    height: int | None
    mode: str | None
    format: str | None
    phash: int | None


# Decoded facts per content: (readable, reason, width, height, mode, format, phash).
_Decoded = tuple[bool, str | None, int | None, int | None, str | None, str | None, int | None]


def scan_files(
    paths: Iterable[str | os.PathLike],
    cache_dir: str | os.PathLike | None = None,
    workers: int | None = None,
    progress: bool = False,
    console: Console | None = None,
) -> list[FileInfo]:
    """Hash, decode and describe image files, reusing earlier decodes of the same bytes.

    Args:
        paths: Files to scan (order kept in the result).
        cache_dir: Folder of the scan store; default :func:`medclass.utils.paths.cache_dir`.
        workers: Decoding processes (default: the CPU count); 1 decodes in this process.
        progress: Show the progress of hashing and decoding (:mod:`medclass.utils.progress`: a bar in a
            terminal, plain lines in a log).
        console: Where the progress goes (default: standard output).

    Returns:
        One :class:`FileInfo` per path, in the order given.

    Example:
        >>> infos = scan_files(sorted(Path("data").rglob("*.jpg")))  # doctest: +SKIP
        >>> sum(not i.readable for i in infos)  # doctest: +SKIP
        0
    """
    paths = [str(p) for p in paths]
    store = _Store(Path(default_cache_dir(cache_dir)) / _CACHE_NAME)

    def bar(items: Iterable, description: str, total: int) -> Iterable:
        return track(items, description, total, console) if progress else items

    hashed = [_md5(p) for p in bar(paths, "hashing", len(paths))]
    known = store.get({md5 for md5, _, _ in hashed if md5})
    # Decode one file per content; its copies take the same result.
    first_path = {}
    for path, (md5, _, _) in zip(paths, hashed, strict=True):
        if md5 and md5 not in known:
            first_path.setdefault(md5, path)
    todo = list(first_path.values())
    decoded = dict(zip(first_path, bar(_decode_all(todo, workers), "decoding", len(todo)), strict=True))
    store.put({md5: d for md5, d in decoded.items() if d[0]})
    facts = {**known, **decoded}

    infos = []
    for path, (md5, size, error) in zip(paths, hashed, strict=True):
        if error is not None:
            infos.append(FileInfo(path, "", size, False, error, None, None, None, None, None))
        else:
            infos.append(FileInfo(path, md5, size, *facts[md5]))
    return infos


def phash_of(array: np.ndarray) -> int:
    """64-bit perceptual hash (``imagehash.phash``) of a ``H x W [x 1]`` uint8 image, as an int."""
    grey = Image.fromarray(np.ascontiguousarray(array.reshape(array.shape[0], array.shape[1])), "L")
    bits = imagehash.phash(grey).hash.ravel()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def _md5(path: str) -> tuple[str, int, str | None]:
    """``(md5, size, None)`` or ``("", size, reason)`` when the path is not a regular, readable file."""
    result = file_md5(path)
    if isinstance(result, str):
        return "", 0, result
    return result[0], result[1], None


def _decode_one(path: str) -> _Decoded:
    """Decode one file: header facts and the perceptual hash, or the reason it failed."""
    try:
        info = image_info(path)
        pixels = read_image(path, channels=1)
    except UnreadableImage as exc:
        return (False, exc.reason, None, None, None, None, None)
    except Exception as exc:  # a reader bug must not stop the scan of thousands of files
        return (False, f"{type(exc).__name__}: {exc}", None, None, None, None, None)
    return (True, None, info.width, info.height, info.mode, info.format, phash_of(pixels))


def _decode_all(paths: Sequence[str], workers: int | None) -> Iterable[_Decoded]:
    workers = (os.cpu_count() or 1) if workers is None else max(1, int(workers))
    workers = min(workers, max(1, len(paths) // 16))
    if workers == 1 or len(paths) < _MIN_FILES_FOR_POOL:
        yield from map(_decode_one, paths)
        return
    # fork starts workers in milliseconds (spawn re-imports torch and friends in each one, about a second).
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    chunk = max(1, min(64, len(paths) // (workers * 8)))
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        yield from pool.map(_decode_one, paths, chunksize=chunk)


class _Store:
    """``md5 -> decoded facts`` in one SQLite table; errors in the store only cost a re-decode."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=30)
        connection.execute(
            "CREATE TABLE IF NOT EXISTS files (md5 TEXT PRIMARY KEY, width INTEGER, height INTEGER,"
            " mode TEXT, format TEXT, phash TEXT)"
        )
        return connection

    def get(self, md5s: set[str]) -> dict[str, _Decoded]:
        if not md5s:
            return {}
        found: dict[str, _Decoded] = {}
        try:
            with closing(self._connect()) as db:
                keys = sorted(md5s)
                for start in range(0, len(keys), 500):
                    part = keys[start : start + 500]
                    rows = db.execute(
                        f"SELECT md5, width, height, mode, format, phash FROM files WHERE md5 IN "
                        f"({','.join('?' * len(part))})",
                        part,
                    )
                    for md5, width, height, mode, fmt, phash in rows:
                        found[md5] = (True, None, width, height, mode, fmt, int(phash, 16))
        except sqlite3.Error:
            return {}
        return found

    def put(self, entries: dict[str, _Decoded]) -> None:
        if not entries:
            return
        rows = [
            (md5, w, h, mode, fmt, f"{phash:016x}") for md5, (_, _, w, h, mode, fmt, phash) in entries.items()
        ]
        try:
            with closing(self._connect()) as db, db:
                db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)", rows)
        except sqlite3.Error:
            pass  # a read-only or locked cache folder: the next scan decodes again
