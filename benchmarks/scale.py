"""Data preparation at scale: N small synthetic PNGs through scan, hash, duplicate search, cache build, one epoch.

    python benchmarks/scale.py --sizes 10000 30000 100000

Each size runs in a fresh child process (so that its peak memory is its own) on N 32 px grey PNGs written
into a temporary folder (2 classes; 1% exact copies and 1% near copies, so the duplicate search has work):

- discover: the folder walk (``medclass.data.discovery.discover``);
- hash + decode: ``scan_files`` (md5 of every file, decode, perceptual hash; a fresh scan store);
- duplicates: ``find_duplicates`` (exact groups and near groups at the default distance);
- cache build: ``build_cache`` at 32 px with the loader-worker count (a fresh cache folder);
- epoch: one training epoch of a small CNN over the cache (``MedDataModule`` + ``LitClassifier`` through
  Lightning, batch 256, standard augmentation).

Peak memory: the child's maximum resident set so far (``resource.getrusage``) after each stage; with
``--tracemalloc`` also the peak of Python allocations during each stage (NumPy arrays included, memory maps
not; it slows the Python-level stages, so time and memory then come from a separate run).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from PIL import Image


def write_images(root: Path, n: int, size: int = 32) -> None:
    """``n`` PNGs in two class folders: random coarse patterns, 1% byte copies, 1% slightly changed copies."""
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
    last: np.ndarray | None = None
    for i in range(n):
        path = root / ("a" if i % 2 else "b") / f"img{i:06d}.png"
        if last is not None and i % 100 == 1:  # exact copy of the previous image
            pixels = last
        elif last is not None and i % 100 == 2:  # near copy: one pixel changed
            pixels = last.copy()
            pixels[0, 0] ^= 8
        else:
            coarse = rng.integers(0, 256, (8, 8), dtype=np.uint8)
            pixels = np.asarray(Image.fromarray(coarse).resize((size, size), Image.Resampling.BILINEAR))
        Image.fromarray(pixels).save(path)
        last = pixels


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def one_size(n: int, work: Path, trace: bool) -> dict[str, dict[str, float]]:
    """Time and memory of every stage for ``n`` images (run in a child process)."""
    import lightning as L
    import torch

    from medclass.config import build_config
    from medclass.data.cache import build_cache
    from medclass.data.datamodule import MedDataModule, default_num_workers
    from medclass.data.discovery import discover
    from medclass.data.duplicates import find_duplicates
    from medclass.data.preprocess import PreprocessSettings
    from medclass.data.scan import scan_files
    from medclass.training.setup import build_module

    root = work / "data"
    started = time.perf_counter()
    write_images(root, n)
    results: dict[str, dict[str, float]] = {
        "write": {"seconds": time.perf_counter() - started, "rss_mib": _peak_rss_mib()}  # after the imports
    }
    config = build_config(
        {
            "data": {"image_size": 32, "batch_size": 256, "cache_dir": str(work / "cache")},
            "model": {"name": "cnn", "cnn": {"blocks": [{"out_channels": 8}, {"out_channels": 16}]}},
            "trainer": {"epochs": 1, "progress_bar": False},
        },
        [],
        {"data.path": str(root)},
    )
    workers = default_num_workers(config.data.num_workers) or 1
    state: dict[str, object] = {}

    def stage(name: str, run) -> None:
        if trace:
            tracemalloc.start()
        begun = time.perf_counter()
        state[name] = run()
        seconds = time.perf_counter() - begun
        peak = tracemalloc.get_traced_memory()[1] if trace else float("nan")
        tracemalloc.stop()
        results[name] = {"seconds": seconds, "py_peak_mib": peak / 2**20, "rss_mib": _peak_rss_mib()}

    stage("discover", lambda: discover(root))
    paths = [str(s.path) for s in state["discover"].samples]
    labels = {str(s.path): s.label for s in state["discover"].samples}
    stage("hash + decode", lambda: scan_files(paths, cache_dir=work / "cache"))
    stage("duplicates", lambda: find_duplicates(state["hash + decode"], labels))
    settings = PreprocessSettings.from_config(config.data)
    stage("cache build", lambda: build_cache(paths, settings, cache_dir=work / "cache", workers=workers))
    report = state["duplicates"]
    results["duplicates"]["near_groups"] = len(report.near)
    results["duplicates"]["exact_groups"] = len(report.exact)

    table = __import__("pandas").DataFrame(
        {"path": paths, "label": [labels[p] for p in paths], "split": "train"}
    )
    table.loc[table.index % 10 == 0, "split"] = "val"
    datamodule = MedDataModule(
        state["cache build"], table, ["a", "b"], config.data, config.augment, config.seed
    )
    module = build_module(config, datamodule)
    trainer = L.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    torch.manual_seed(0)
    stage("epoch", lambda: trainer.fit(module, datamodule=datamodule))
    results["epoch"]["images_per_s"] = len(datamodule.rows["train"]) / results["epoch"]["seconds"]
    return results


def search_only(sizes: list[int]) -> None:
    """``find_duplicates`` alone on N synthetic scan results (random 64-bit hashes, 1% exact copies, 1% hashes
    2 bits from another): the search's growth without files, decoding or the other stages."""
    from medclass.data.duplicates import find_duplicates
    from medclass.data.scan import FileInfo

    print("| images | find_duplicates (s, best of 3) | exact / near groups |\n|---:|---:|---:|")
    rng = np.random.default_rng(0)
    for n in sizes:
        hashes = rng.integers(0, 2**63, n, dtype=np.uint64)
        hashes[2::100] = hashes[0::100][: hashes[2::100].size] ^ np.uint64(0b101)
        md5 = [f"m{i - 1 if i % 100 == 1 else i}" for i in range(n)]
        hashes[1::100] = hashes[0::100][: hashes[1::100].size]
        infos = [
            FileInfo(f"/d/{i % 2}/{i}.png", md5[i], 1, True, None, 32, 32, "L", "PNG", int(hashes[i]))
            for i in range(n)
        ]
        labels = {info.path: info.path.split("/")[2] for info in infos}
        times = []
        for _ in range(3):
            started = time.perf_counter()
            report = find_duplicates(infos, labels)
            times.append(time.perf_counter() - started)
        print(f"| {n:,} | {min(times):.3f} | {len(report.exact)} / {len(report.near)} |")


def main(args: argparse.Namespace) -> None:
    if args.search_only:
        search_only(args.sizes)
        return
    if args.one:
        work = Path(tempfile.mkdtemp(prefix="medclass-scale-"))
        try:
            print(json.dumps(one_size(args.one, work, args.tracemalloc)))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return
    rows = []
    for n in args.sizes:
        done = subprocess.run(
            [sys.executable, __file__, "--one", str(n), *(["--tracemalloc"] if args.tracemalloc else [])],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            sys.exit(f"size {n} failed:\n{done.stderr[-3000:]}")
        rows.append((n, json.loads(done.stdout.strip().splitlines()[-1])))
        print(f"{n}: done", file=sys.stderr)
    stages = ("discover", "hash + decode", "duplicates", "cache build", "epoch")
    print(
        f"(RSS after importing torch and Lightning, before any data: {rows[0][1]['write']['rss_mib']:,.0f} MiB)\n"
    )
    print("| images | " + " | ".join(f"{s} (s)" for s in stages) + " | epoch images/s | peak RSS (MiB) |")
    print("|---:|" + "---:|" * (len(stages) + 2))
    for n, r in rows:
        cells = " | ".join(f"{r[s]['seconds']:.2f}" for s in stages)
        print(f"| {n:,} | {cells} | {r['epoch']['images_per_s']:,.0f} | {r['epoch']['rss_mib']:,.0f} |")
    print(
        "\n| images | " + " | ".join(f"{s} RSS / py peak (MiB)" for s in stages) + " | near / exact groups |"
    )
    print("|---:|" + "---:|" * (len(stages) + 1))
    for n, r in rows:
        cells = " | ".join(f"{r[s]['rss_mib']:,.0f} / {r[s]['py_peak_mib']:.1f}" for s in stages)
        print(f"| {n:,} | {cells} | {r['duplicates']['near_groups']} / {r['duplicates']['exact_groups']} |")
    if len(rows) > 1:
        (n0, r0), (n1, r1) = rows[0], rows[-1]
        growth = {s: r1[s]["seconds"] / r0[s]["seconds"] for s in stages}
        print(
            f"\ntime growth {n0:,} -> {n1:,} images ({n1 / n0:.0f}x): "
            + ", ".join(f"{s} {g:.1f}x" for s, g in growth.items())
        )


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--search-only", action="store_true", help="time find_duplicates alone on synthetic hashes"
    )
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also the peak of Python allocations per stage (slower)"
    )
    return parser


if __name__ == "__main__":
    main(get_args_parser().parse_args())
