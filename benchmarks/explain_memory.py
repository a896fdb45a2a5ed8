"""Resident memory while ``medclass explain`` runs over hundreds of image files (one call, one process).

    python benchmarks/explain_memory.py --model resnet18 --image-size 224 --n 300 --method gradcam

Writes ``n`` phantom MRI PNGs, then runs :func:`medclass.api.explain.explain_files` once over all of them
(overlay PNG + .npy per image, the real code path) with a randomly initialised model (weights do not change
the memory used). A background thread samples the resident set size (/proc/self/statm) every 0.2 s together
with the number of maps written so far; no garbage collection is forced. Prints
the median and largest RSS per window of 50 images, and optionally saves the samples as CSV and a PNG plot.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import torch

from medclass.api.explain import explain_files
from medclass.data.synthetic import make_phantom_dataset
from medclass.inference.spec import ModelSpec
from medclass.models import create_model


def resident_mb() -> float:
    """Resident set size of this process in MiB."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class RssSampler(threading.Thread):
    """Samples ``(seconds, rss_mb, maps_written)`` until stopped; maps are counted as .npy files in ``out``."""

    def __init__(self, out: Path, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.out, self.interval = out, interval
        self.samples: list[tuple[float, float, int]] = []
        self.stopped = threading.Event()
        self.start_time = time.perf_counter()

    def run(self) -> None:
        while not self.stopped.is_set():
            done = len(list(self.out.glob("*.npy"))) if self.out.is_dir() else 0
            self.samples.append((time.perf_counter() - self.start_time, resident_mb(), done))
            self.stopped.wait(self.interval)


def run_benchmark(
    model_name: str, image_size: int, n: int, method: str, batch_size: int, workdir: Path
) -> pd.DataFrame:
    """Explain ``n`` phantom images; returns the RSS samples as a table (seconds, rss_mb, maps)."""
    data = make_phantom_dataset(workdir / "data", n_per_class=n // 2, size=image_size, seed=0)
    files = sorted(str(p) for p in data.rglob("*.png"))
    torch.manual_seed(0)
    model = create_model(model_name, num_classes=2, in_chans=1, image_size=image_size).eval()
    meta = ModelSpec(
        model={},
        classes=["no_tumor", "tumor"],
        preprocess={"settings": {"image_size": image_size, "channels": 1}, "mean": [0.3], "std": [0.25]},
    )
    out = workdir / "explanations"
    sampler = RssSampler(out)
    sampler.start()
    try:
        explain_files(model, meta, files, out, method=method, batch_size=batch_size)
    finally:
        sampler.stopped.set()
        sampler.join()
    table = pd.DataFrame(sampler.samples, columns=["seconds", "rss_mb", "maps"])
    table.attrs["n"] = len(files)
    return table


def summarize(table: pd.DataFrame, step: int = 50) -> pd.DataFrame:
    """Median and largest RSS (MiB) while maps ``[k, k + step)`` were being written, for k = 0, step, ...

    Samples taken after the last map count in the last window.
    """
    last = max(int(table["maps"].max()) - 1, 0)
    window = (table["maps"].clip(upper=last) // step) * step
    return table.groupby(window)["rss_mb"].agg(["median", "max"]).rename_axis("maps")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--n", type=int, default=300, help="Images to explain (even).")
    parser.add_argument("--method", default="gradcam")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--csv", type=Path, default=None, help="Save the RSS samples here.")
    parser.add_argument("--plot", type=Path, default=None, help="Save RSS vs maps written as a PNG.")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        table = run_benchmark(args.model, args.image_size, args.n, args.method, args.batch_size, Path(tmp))
        seconds = time.perf_counter() - started
    windows = summarize(table)
    print(
        f"{args.method} on {args.model} at {args.image_size} px, batch {args.batch_size}, {args.threads} thread(s), "
        f"torch {torch.__version__}: {table.attrs['n']} images in {seconds:.0f} s"
    )
    print("maps written | median RSS (MiB) | max RSS (MiB)")
    for k, row in windows.iterrows():
        print(f"{k:5d}-{k + 49:<6d} | {row['median']:16.1f} | {row['max']:13.1f}")
    settled = windows[windows.index >= 50]  # after the first 50: allocator warm-up
    if len(settled) >= 2:
        growth = settled["median"].iloc[-1] - settled["median"].iloc[0]
        low, high = settled["median"].min(), settled["median"].max()
        print(
            f"median RSS, maps 50-99 to the last window: {growth:+.1f} MiB; window medians {low:.0f}-{high:.0f} MiB"
        )
    print(f"peak RSS {table['rss_mb'].max():.1f} MiB")
    if args.csv is not None:
        table.to_csv(args.csv, index=False)
    if args.plot is not None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(5, 3), dpi=100)
        ax = fig.subplots()
        ax.plot(table["maps"], table["rss_mb"], ".", markersize=3)
        ax.set_xlabel("maps written")
        ax.set_ylabel("resident memory (MiB)")
        ax.set_title(f"{args.method}, {args.model} {args.image_size} px: RSS over {table.attrs['n']} images")
        fig.savefig(args.plot, bbox_inches="tight")


if __name__ == "__main__":
    main()
