"""Decode and resize every image once; serve the pixels from one memory-mapped ``.npy`` afterwards.

An entry of the cache is two files in ``<cache_dir>/arrays/``:

* ``<key>.npy``: ``N x H x W x C`` uint8 (``numpy.lib.format``), opened with ``mmap_mode="r"`` so that the
  operating system pages images in on demand and shares them between DataLoader workers;
* ``<key>.json``: the sidecar with the settings, the file paths, the readable mask and the reasons.

``key`` is the SHA-256 of the cache format version, the preprocessing settings (sorted JSON) and the MD5 of
every file's bytes, in order: changing any file's content or any setting gives a new entry, and the same files
with the same settings reuse the old one (wherever the files now lie). Entries are written atomically: the
array is filled under a temporary name and renamed, then the sidecar is written (also temp + rename); an entry
counts only when its sidecar exists, so an interrupted build never leaves one that would be reused.

Unreadable files never stop a build: their slot holds zeros, ``readable`` is False and ``reasons`` says why.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import multiprocessing
import os
import sys
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.format import open_memmap
from rich.console import Console

from medclass.data.files import file_md5 as hash_file
from medclass.data.preprocess import PreprocessSettings, load_preprocessed
from medclass.data.readers import UnreadableImage
from medclass.utils.console import default_console
from medclass.utils.io import read_json, write_json
from medclass.utils.paths import cache_dir as default_cache_dir
from medclass.utils.progress import progress_task

# Bump when the readers or the preprocessing change the pixels they produce, to invalidate old entries.
CACHE_VERSION = 2
MAX_WORKERS = 8
# Fewer files than this are decoded in-process: starting worker processes costs more than it saves.
SERIAL_BELOW = 64
# A temporary array untouched for this long belongs to a build that was killed; it is deleted.
STALE_TEMPORARY_S = 24 * 3600
# Pixels (H*W*C) per block read by channel_stats: about 8 MB of uint8, 32 MB as uint32 squares.
_STATS_BLOCK_PIXELS = 8_000_000


@dataclass
class ImageCache:
    """Preprocessed images, memory-mapped.

    Attributes:
        arrays: ``N x H x W x C`` uint8, a read-only ``np.memmap`` (an in-memory array when ``N == 0``).
        paths: The files, as given to :func:`build_cache` (``str``), in the same order as ``arrays``.
        readable: ``N`` booleans; False where the file could not be read (its slot holds zeros).
        reasons: ``path -> reason`` for each unreadable file.
        settings: The preprocessing that produced the arrays.
        key: The cache key (SHA-256 hex) of this entry.
        location: The ``.npy`` file (None when ``N == 0``).
    """

    arrays: np.ndarray
    paths: list[str]
    readable: np.ndarray
    reasons: dict[str, str]
    settings: PreprocessSettings
    key: str = ""
    location: Path | None = None
    _index: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        """Image ``i`` as a writable ``H x W x C`` uint8 copy (so ``torch.from_numpy`` can take it as is)."""
        return np.array(self.arrays[i])

    def index_of(self, path: str | os.PathLike) -> int:
        """Position of a file in the cache (the path as given, or an equivalent absolute one).

        Raises:
            KeyError: the file is not in this cache.
        """
        if not self._index:
            for i, p in enumerate(self.paths):
                self._index.setdefault(p, i)
                self._index.setdefault(str(Path(p).absolute()), i)
        for candidate in (str(Path(path)), str(Path(path).absolute())):
            if candidate in self._index:
                return self._index[candidate]
        raise KeyError(f"{path} is not in the image cache ({len(self.paths)} files)")

    # A memmap pickles as a full in-memory copy; send the file name to worker processes instead.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if self.location is not None:
            state["arrays"] = None
        state["_index"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self.arrays is None:
            self.arrays = np.load(self.location, mmap_mode="r")


def file_md5(path: str | os.PathLike) -> str | None:
    """MD5 hex digest of a file's bytes, or None when it is not a regular, readable file."""
    result = hash_file(path)
    return None if isinstance(result, str) else result[0]


def cache_key(settings: PreprocessSettings, digests: Sequence[str | None]) -> str:
    """SHA-256 hex over the cache version, the settings (sorted JSON) and the files' MD5s, in order."""
    sha = hashlib.sha256()
    sha.update(f"medclass-cache-v{CACHE_VERSION}\n".encode())
    sha.update(json.dumps(settings.to_dict(), sort_keys=True).encode())
    for digest in digests:
        sha.update(b"\n" + (digest or "missing").encode())
    return sha.hexdigest()


def default_workers() -> int:
    """``min(usable CPUs, 8)``."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_WORKERS))


def _decode_one(arrays: np.ndarray, index: int, path: str, settings: PreprocessSettings) -> str | None:
    try:
        arrays[index] = load_preprocessed(path, settings)
        return None
    except UnreadableImage as exc:
        reason = exc.reason
    except Exception as exc:  # a bug or an odd file: record it, never stop the build
        reason = f"{type(exc).__name__}: {exc}"
    arrays[index] = 0
    return reason


def _decode_chunk(
    npy_path: str, start: int, paths: list[str], settings: PreprocessSettings
) -> list[str | None]:
    """Decode ``paths`` into slots ``start...`` of the array file; the reason (or None) for each."""
    arrays = np.load(npy_path, mmap_mode="r+")
    try:
        return [_decode_one(arrays, start + k, p, settings) for k, p in enumerate(paths)]
    finally:
        arrays.flush()
        del arrays


def _progress(console: Console | None, n: int) -> contextlib.AbstractContextManager:
    """The progress of decoding ``n`` images into the cache (nothing when ``console`` is None)."""
    if console is None:
        return contextlib.nullcontext(lambda k: None)
    return progress_task("caching", n, console, unit="images")


def _pool_context() -> multiprocessing.context.BaseContext:
    # fork on Linux: workers start in milliseconds and scripts need no ``if __name__ == "__main__"`` guard;
    # the workers only run Pillow/numpy/scipy code, never torch, and the pool is started before the progress
    # bar's thread. spawn elsewhere (fork is unsafe on macOS and absent on Windows).
    return multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")


def _decode_all(
    tmp: Path, paths: list[str], settings: PreprocessSettings, workers: int, progress: Console | None
) -> list[str | None]:
    n = len(paths)
    reasons: list[str | None] = [None] * n
    if workers <= 1 or n < SERIAL_BELOW:
        step = 32
        with _progress(progress, n) as advance:
            for start in range(0, n, step):
                chunk = _decode_chunk(str(tmp), start, paths[start : start + step], settings)
                reasons[start : start + len(chunk)] = chunk
                advance(len(chunk))
        return reasons
    # Small chunks keep the load balanced and the progress bar moving: at least 4 chunks per worker.
    step = max(1, min(64, math.ceil(n / (workers * 4))))
    with ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context()) as pool:
        futures = {
            pool.submit(_decode_chunk, str(tmp), start, paths[start : start + step], settings): start
            for start in range(0, n, step)
        }
        with _progress(progress, n) as advance:
            for future in as_completed(futures):
                start = futures[future]
                chunk = future.result()
                reasons[start : start + len(chunk)] = chunk
                advance(len(chunk))
    return reasons


def _open_entry(
    npy: Path, meta: Path, paths: list[str], settings: PreprocessSettings, key: str
) -> ImageCache | None:
    """The stored entry for ``key``, or None when it is absent or does not match."""
    if not (npy.is_file() and meta.is_file()):
        return None
    try:
        info = read_json(meta)
        arrays = np.load(npy, mmap_mode="r")
    except (OSError, ValueError):
        return None
    size, channels = settings.image_size, settings.channels
    if (
        info.get("version") != CACHE_VERSION
        or info.get("key") != key
        or arrays.shape != (len(paths), size, size, channels)
        or arrays.dtype != np.uint8
        or len(info.get("readable", [])) != len(paths)
    ):
        return None
    readable = np.asarray(info["readable"], dtype=bool)
    # Reasons are stored by position, so that a moved copy of the same files reuses the entry.
    reasons = {paths[int(i)]: r for i, r in info.get("reasons", {}).items()}
    return ImageCache(arrays, paths, readable, reasons, settings, key, npy)


def _remove_stale_temporaries(folder: Path) -> None:
    """Delete temporary arrays left by builds killed outright (SIGKILL, power loss) a while ago."""
    now = time.time()
    for tmp in folder.glob(".*.tmp"):
        with contextlib.suppress(OSError):  # another process may remove it first
            if now - tmp.stat().st_mtime > STALE_TEMPORARY_S:
                tmp.unlink()


def build_cache(
    paths: Sequence[str | os.PathLike],
    settings: PreprocessSettings,
    cache_dir: str | os.PathLike | None = None,
    workers: int | None = None,
    progress: bool = False,
    digests: Sequence[str | None] | None = None,
    console: Console | None = None,
) -> ImageCache:
    """Preprocess every file once into a memory-mapped array, or reuse the entry made earlier.

    Args:
        paths: Image files, in the order the cache should hold them.
        settings: Preprocessing (see :func:`medclass.data.preprocess.load_preprocessed`).
        cache_dir: Cache folder; default ``$MEDCLASS_CACHE_DIR`` or ``~/.cache/medclass``.
        workers: Decoding processes; default ``min(CPUs, 8)``. 1 (or fewer than 64 files) decodes in-process.
        progress: Show the progress of decoding (:mod:`medclass.utils.progress`: a bar in a terminal, plain
            lines in a log).
        digests: The files' MD5s when the caller has them already (a scan computed them), so the files
            are not read twice; ``None`` or ``""`` for a file that could not be read.
        console: Where the progress goes (default: standard output).

    Returns:
        An :class:`ImageCache`; unreadable files have ``readable[i] = False``, zeros and a reason.

    Example:
        >>> cache = build_cache(paths, PreprocessSettings(image_size=128))  # doctest: +SKIP
        >>> cache[0].shape, cache.readable.all()  # doctest: +SKIP
        ((128, 128, 1), True)
    """
    paths = [str(Path(p)) for p in paths]
    workers = default_workers() if workers is None else max(1, int(workers))
    size, channels = settings.image_size, settings.channels
    if not paths:
        empty = np.zeros((0, size, size, channels), dtype=np.uint8)
        return ImageCache(empty, [], np.zeros(0, dtype=bool), {}, settings, cache_key(settings, []), None)

    if digests is None:
        with ThreadPoolExecutor(max_workers=min(8, max(2, workers))) as threads:
            digests = list(threads.map(file_md5, paths))
    elif len(digests) != len(paths):
        raise ValueError(f"{len(digests)} digests for {len(paths)} paths")
    digests = [d or None for d in digests]
    key = cache_key(settings, digests)
    folder = default_cache_dir(cache_dir) / "arrays"
    folder.mkdir(parents=True, exist_ok=True)
    npy, meta = folder / f"{key}.npy", folder / f"{key}.json"
    found = _open_entry(npy, meta, paths, settings, key)
    if found is not None:
        return found

    _remove_stale_temporaries(folder)
    tmp = folder / f".{key}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        arrays = open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(paths), size, size, channels))
        del arrays  # created (zero-filled); the decoders open it themselves
        shown = (console or default_console()) if progress else None
        reasons = _decode_all(tmp, paths, settings, workers, shown)
        os.replace(tmp, npy)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    readable = [reason is None for reason in reasons]
    write_json(
        meta,
        {
            "version": CACHE_VERSION,
            "key": key,
            "settings": settings.to_dict(),
            "shape": [len(paths), size, size, channels],
            "paths": paths,
            "md5": digests,
            "readable": readable,
            "reasons": {str(i): r for i, r in enumerate(reasons) if r is not None},
        },
    )
    return ImageCache(
        np.load(npy, mmap_mode="r"),
        paths,
        np.asarray(readable, dtype=bool),
        {paths[i]: r for i, r in enumerate(reasons) if r is not None},
        settings,
        key,
        npy,
    )


def channel_stats(cache: ImageCache, indices: Sequence[int]) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation (population) on the 0-1 scale over the selected images.

    Pass the training indices only, so that no validation/test pixel leaks into the normalisation.
    Unreadable images (all zeros) are left out. Reads the memmap in blocks of about 8 MB and sums exactly in
    integers, so memory stays flat and the result does not depend on the block size.

    Raises:
        ValueError: no readable image among ``indices``.

    Example:
        >>> mean, std = channel_stats(cache, train_indices)  # doctest: +SKIP
    """
    selected = np.asarray(indices, dtype=np.int64).ravel()
    if selected.size and (selected.min() < -len(cache) or selected.max() >= len(cache)):
        raise IndexError(f"indices out of range for a cache of {len(cache)} images")
    selected = np.sort(selected % max(len(cache), 1))  # sorted: sequential reads of the memmap
    selected = selected[cache.readable[selected]] if selected.size else selected
    if selected.size == 0:
        raise ValueError("channel_stats: no readable image among the given indices")
    _, height, width, channels = cache.arrays.shape
    block = max(1, _STATS_BLOCK_PIXELS // (height * width * channels))
    total = np.zeros(channels, dtype=np.uint64)
    squares = np.zeros(channels, dtype=np.uint64)
    for start in range(0, selected.size, block):
        chunk = np.asarray(cache.arrays[selected[start : start + block]])
        total += chunk.sum(axis=(0, 1, 2), dtype=np.uint64)
        wide = chunk.astype(np.uint32)
        squares += (wide * wide).sum(axis=(0, 1, 2), dtype=np.uint64)
    count = float(selected.size * height * width)
    mean = total.astype(np.float64) / count / 255.0
    var = squares.astype(np.float64) / count / 255.0**2 - mean**2
    std = np.sqrt(np.clip(var, 0.0, None))
    return [float(m) for m in mean], [float(s) for s in std]
