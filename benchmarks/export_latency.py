"""Inference latency of an exported ONNX bundle (ONNX Runtime) against the same model in PyTorch eager, in one
process, batch 1 and 32, with the same number of threads.

    python benchmarks/export_latency.py RUN [RUN ...] --batches 1 32 --threads 2 --repeats 20

Each RUN (a run folder or checkpoint) is exported with ``medclass.serving.export.export_model`` into a temporary
bundle and read back with ``medclass.inference.bundle.load_bundle``, the path ``medclass predict BUNDLE`` takes.
Both runtimes are timed by ``medclass.models.profile.measure_latency`` (the timer of ``medclass profile``),
alternating runtime per round so that a burst of load on a shared machine hits both; the median of the rounds
is reported, with ``ratio = eager / onnx`` (above 1: ONNX Runtime is faster).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import torch

from medclass.inference.bundle import load_bundle
from medclass.inference.checkpoint import load_for_inference
from medclass.models.profile import measure_latency
from medclass.serving.export import export_model


def compare(source: str, batches: list[int], threads: int, repeats: int, rounds: int) -> list[dict[str, Any]]:
    """Rows ``run, model, image_size, batch, eager_ms, onnx_ms, ratio`` for one run."""
    torch.set_num_threads(threads)
    eager, meta = load_for_inference(source)
    size, chans = meta.preprocess.image_size, meta.preprocess.channels
    with tempfile.TemporaryDirectory() as folder:
        export_model(source, "onnx", Path(folder))
        onnx, _ = load_bundle(folder, threads=threads)
        rows = []
        for batch in batches:
            times: dict[str, list[float]] = {"eager": [], "onnx": []}
            for _ in range(rounds):
                for name, model in (("eager", eager), ("onnx", onnx)):
                    result = measure_latency(
                        model, size, chans, batch, repeats=repeats, warmup=2, device="cpu"
                    )
                    times[name].append(result["median_ms"])
            eager_ms, onnx_ms = statistics.median(times["eager"]), statistics.median(times["onnx"])
            rows.append(
                {
                    "run": Path(source).name,
                    "model": meta.model.get("name"),
                    "image_size": size,
                    "batch": batch,
                    "eager_ms": round(eager_ms, 2),
                    "onnx_ms": round(onnx_ms, 2),
                    "ratio": round(eager_ms / onnx_ms, 2),
                }
            )
    return rows


def main(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for source in args.runs:
        rows.extend(compare(source, args.batches, args.threads, args.repeats, args.rounds))
    print("| run | model | px | batch | eager ms | ONNX Runtime ms | eager / ONNX |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['run']} | {r['model']} | {r['image_size']} | {r['batch']} | {r['eager_ms']:.2f} "
            f"| {r['onnx_ms']:.2f} | {r['ratio']:.2f} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run folders or checkpoints")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10, help="timed passes per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per runtime")
    parser.add_argument("--json", help="also write the rows here")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse_args())
