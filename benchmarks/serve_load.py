"""A bounded load test of ``medclass serve`` on loopback: a fixed number of ``POST /v1/predict`` requests from N
concurrent httpx asyncio clients; throughput, p50/p95/p99 latency, errors and the server's RSS before and after.

    python benchmarks/serve_load.py RUN --backends torch onnx --clients 1 8 --requests 300 --files DIR

For each backend one server process is started (``medclass serve RUN --backend B`` on a free 127.0.0.1 port), warmed
up with a few requests, then each client count in turn sends ``--requests`` uploads (real scans from ``--files``,
cycled) and stops. The batch-1 model latency of ``medclass profile`` (``measure_latency``) for the same model in
the same backend is measured in this process for the p99 target (p99 at 8 clients under 3x that latency).
``--max-batch 1 32`` serves each backend once per value: 1 is one forward pass per request, 32 lets the server
run the images of concurrent requests as one batch (``medclass serve --max-batch``), so the rows compare the two.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import torch

SRC = Path(__file__).resolve().parents[1] / "src"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` from ``/proc`` (MiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(run: str, backend: str, max_batch: int, log: Path) -> tuple[subprocess.Popen, str, float]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    command = [sys.executable, "-m", "medclass", "serve", run, "--port", str(port), "--backend", backend]
    command += ["--max-batch", str(max_batch)]
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    while True:
        if process.poll() is not None:
            raise SystemExit(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return process, url, time.perf_counter() - start
        except httpx.TransportError:
            time.sleep(0.2)


async def load(url: str, files: list[Path], requests: int, clients: int) -> dict[str, Any]:
    """``requests`` uploads shared by ``clients`` concurrent clients; latency per request, errors."""
    payloads = [(f.name, f.read_bytes()) for f in files]
    latencies: list[float] = []
    errors: dict[str, int] = {}
    counter = iter(range(requests))

    async def client(http: httpx.AsyncClient) -> None:
        for i in counter:
            name, data = payloads[i % len(payloads)]
            start = time.perf_counter()
            try:
                response = await http.post(f"{url}/v1/predict", files={"file": (name, data)})
                ok = response.status_code == 200
                key = None if ok else str(response.status_code)
            except httpx.HTTPError as exc:
                key = type(exc).__name__
            latencies.append(time.perf_counter() - start)
            if key:
                errors[key] = errors.get(key, 0) + 1

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        wall = time.perf_counter() - start
    ms = np.asarray(latencies) * 1e3
    return {
        "requests": requests,
        "clients": clients,
        "wall_s": round(wall, 2),
        "req_per_s": round(requests / wall, 2),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "errors": sum(errors.values()),
        "error_kinds": errors,
    }


def model_latency_ms(run: str, backend: str, threads: int) -> float:
    """Batch-1 latency of the model alone (``medclass profile``'s timer), in the served backend."""
    from medclass.inference.bundle import load_bundle
    from medclass.inference.checkpoint import load_for_inference
    from medclass.models.profile import measure_latency
    from medclass.serving.export import export_model

    torch.set_num_threads(threads)
    model, meta = load_for_inference(run)
    size, chans = meta.preprocess.image_size, meta.preprocess.channels
    with tempfile.TemporaryDirectory() as folder:
        if backend == "onnx":
            export_model(run, "onnx", Path(folder))
            model, _ = load_bundle(folder, threads=threads)
        return measure_latency(model, size, chans, 1, repeats=20, warmup=3, device="cpu")["median_ms"]


def serve_block(
    args: argparse.Namespace, files: list[Path], backend: str, max_batch: int
) -> list[dict[str, Any]]:
    """One server (``backend``, ``--max-batch max_batch``) under each client count in turn."""
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        process, url, startup = start_server(args.run, backend, max_batch, Path(folder) / "serve.log")
        try:
            asyncio.run(load(url, files, 10, 1))  # warm-up
            for clients in args.clients:
                before = rss_mb(process.pid)
                row = asyncio.run(load(url, files, args.requests, clients))
                row.update(backend=backend, max_batch=max_batch, startup_s=round(startup, 1))
                row.update(rss_start_mb=round(before, 1), rss_end_mb=round(rss_mb(process.pid), 1))
                rows.append(row)
                print(json.dumps(row), flush=True)
        finally:
            process.terminate()
            process.wait(timeout=30)
    return rows


def main(args: argparse.Namespace) -> list[dict[str, Any]]:
    files = sorted(p for p in Path(args.files).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    files = files[: args.max_files]
    rows = []
    for backend in args.backends:
        for max_batch in args.max_batch:
            rows += serve_block(args, files, backend, max_batch)
        model_ms = model_latency_ms(args.run, backend, args.threads)
        for row in rows:
            if row["backend"] == backend:
                row["model_batch1_ms"] = round(model_ms, 1)
                row["p99_over_model"] = round(row["p99_ms"] / model_ms, 1)
    print(
        "| backend | max batch | clients | requests | req/s | p50 ms | p95 ms | p99 ms | errors | RSS start -> end MiB "
        "| model batch-1 ms | p99 / model |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for r in rows:
        print(
            f"| {r['backend']} | {r['max_batch']} | {r['clients']} | {r['requests']} | {r['req_per_s']:.1f} | {r['p50_ms']:.1f} "
            f"| {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} | {r['rss_start_mb']:.0f} -> "
            f"{r['rss_end_mb']:.0f} | {r['model_batch1_ms']:.1f} | {r['p99_over_model']:.1f} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run folder (or bundle) to serve")
    parser.add_argument("--files", required=True, help="folder of scans to upload (searched recursively)")
    parser.add_argument("--max-files", type=int, default=64)
    parser.add_argument("--backends", nargs="+", default=["torch", "onnx"], choices=["torch", "onnx"])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--max-batch", type=int, nargs="+", default=[1, 32], help="serve --max-batch values")
    parser.add_argument("--requests", type=int, default=300, help="requests per client count (fixed)")
    # One thread: on a shared 2-core machine two torch threads wait on each other (BENCHMARKS.md, Deploy).
    parser.add_argument("--threads", type=int, default=1, help="threads for the model-only latency")
    parser.add_argument("--json", help="also write the rows here")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse_args())
