"""Input pipeline: decoding with PIL every epoch vs the memory-mapped preprocessed-image cache.

(a) PIL: every epoch opens each file, converts it to the channel count, resizes it and makes a uint8 tensor.
(b) cache: ``build_cache`` decodes and resizes once (in a process pool), then every epoch reads the uint8
    arrays from the memory-mapped ``.npy`` and makes the same tensors.

Both epochs run in this one process, in file order, so the per-epoch figures compare the work per image; the
cache build uses ``--workers`` processes. The first cache build goes to a fresh temporary folder (unless
``--cache-dir`` is given) so that it really decodes.

    python benchmarks/cache_vs_pil.py --image-size 128 --epochs 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from medclass.data.cache import ImageCache, build_cache, default_workers
from medclass.data.discovery import discover
from medclass.data.preprocess import PreprocessSettings
from medclass.utils.paths import shared_data_dir


def pil_epoch(paths: Sequence[Path], image_size: int, channels: int) -> float:
    """Seconds for one pass of plain PIL open + convert + resize + uint8 tensor over every file."""
    mode = "L" if channels == 1 else "RGB"
    start = time.perf_counter()
    for path in paths:
        with Image.open(path) as image:
            resized = image.convert(mode).resize((image_size, image_size), Image.Resampling.BILINEAR)
        array = np.asarray(resized)
        tensor = torch.from_numpy(array.reshape(image_size, image_size, channels).copy()).permute(2, 0, 1)
        assert tensor.dtype == torch.uint8
    return time.perf_counter() - start


def cache_epoch(cache: ImageCache) -> float:
    """Seconds for one pass over the cache, each image read from the memmap as a uint8 tensor."""
    start = time.perf_counter()
    for i in range(len(cache)):
        tensor = torch.from_numpy(cache[i]).permute(2, 0, 1)
        assert tensor.dtype == torch.uint8
    return time.perf_counter() - start


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=shared_data_dir() / "brain_tumor_mri_4class" / "Training",
        help="data folder (any layout discover() understands); default $MEDCLASS_DATA_DIR/"
        "brain_tumor_mri_4class/Training",
    )
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--channels", type=int, choices=(1, 3), default=1)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument(
        "--workers", type=int, default=None, help="cache build processes (default min(CPUs, 8))"
    )
    parser.add_argument("--limit", type=int, default=None, help="use only the first N images")
    parser.add_argument("--cache-dir", type=Path, default=None, help="default: a fresh temporary folder")
    return parser


def main(args: argparse.Namespace) -> dict[str, float]:
    torch.set_num_threads(1)
    paths = [s.path for s in discover(args.data).samples][: args.limit]
    n = len(paths)
    workers = args.workers or default_workers()
    settings = PreprocessSettings(args.image_size, channels=args.channels)
    tmp = None if args.cache_dir else Path(tempfile.mkdtemp(prefix="medclass-bench-"))
    cache_dir = args.cache_dir or tmp
    try:
        pil_times = [pil_epoch(paths, args.image_size, args.channels) for _ in range(args.epochs)]
        start = time.perf_counter()
        cache = build_cache(paths, settings, cache_dir=cache_dir, workers=workers)
        build = time.perf_counter() - start
        start = time.perf_counter()
        build_cache(paths, settings, cache_dir=cache_dir, workers=workers)
        reopen = time.perf_counter() - start
        cache_times = [cache_epoch(cache) for _ in range(args.epochs)]
        unreadable = int((~cache.readable).sum())
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    pil_epoch_s, cache_epoch_s = float(np.mean(pil_times)), float(np.mean(cache_times))
    pil_total, cache_total = sum(pil_times), build + sum(cache_times)
    print(
        f"{n} images from {args.data}, {args.image_size} px, {args.channels} channel(s), {args.epochs} epochs"
    )
    print(f"cache build: {workers} worker processes; {unreadable} unreadable; CPUs here: {os.cpu_count()}\n")
    print("| pipeline | one epoch (s) | images/s | total for the epochs (s) |")
    print("|---|---:|---:|---:|")
    print(
        f"| PIL open+convert+resize every epoch | {pil_epoch_s:.2f} | {n / pil_epoch_s:,.0f} | {pil_total:.2f} |"
    )
    print(f"| cache: first build (decode + resize once) | {build:.2f} | {n / build:,.0f} | |")
    print(f"| cache: reuse the built entry (md5 of every file) | {reopen:.2f} | | |")
    print(
        f"| cache: epoch from the memmap | {cache_epoch_s:.3f} | {n / cache_epoch_s:,.0f} | "
        f"{cache_total:.2f} (build included) |"
    )
    print(f"\nper-epoch speed-up: {pil_epoch_s / cache_epoch_s:.0f}x")
    return {
        "images": n,
        "pil_epoch_s": pil_epoch_s,
        "cache_build_s": build,
        "cache_reuse_s": reopen,
        "cache_epoch_s": cache_epoch_s,
    }


if __name__ == "__main__":
    main(get_args_parser().parse_args())
