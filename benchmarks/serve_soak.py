"""A bounded soak of ``medclass serve`` on loopback: 8 client threads send a mix of valid and hostile requests for
``--minutes`` (default 10); counts by status class, latency percentiles and the server's RSS curve.

    python benchmarks/serve_soak.py [--run RUN] [--minutes 10] [--clients 8] [--json OUT.json]

Without ``--run`` a small run is trained first in a temporary folder: the phantom data set
(``make_phantom_dataset``, 40 images per class at 128 px) and the default model (ResNet-18) at 64 px for 1 epoch
(``medclass train --data D --image-size 64 --epochs 1``). The run is served by ``medclass serve RUN --port P`` on
127.0.0.1 (``tests/serve_process.py``, the server the API tests start; default settings, 1 worker), warmed up,
and then each client, in turn until the time is up (and at most ``--max-requests`` requests each), picks a
request kind at random (seeded) and sends it:

- valid: a PNG or a 16-bit DICOM upload, both in one request, to ``/v1/predict``; an Open Inference Protocol
  request to ``/v2/models/{name}/infer`` with the input as JSON numbers or as binary tensor data;
- hostile: a truncated PNG, random bytes named ``.dcm``, a 300-byte file name, file names with a NUL, with
  control characters and with CR LF, path-traversal names, an empty body, an empty file, the wrong
  Content-Type on both endpoints, a broken multipart body, OIP requests naming an unknown output or model, with
  the wrong shape, bad JSON or a header length past the body, and a PNG and a DICOM that declare 12000 x 12000
  pixels (``tests/bombs.py``).

Per request the kind, status and latency are kept. Every 10 s the server process's RSS (``VmRSS``, the reader of
``serve_load.py``), its thread count and its open file descriptors are sampled. The server's ``TMPDIR`` is a
folder of this script's, so upload folders left behind would be counted.

Exit status 1 (the soak failed) when: any answer is 5xx, any request ends without an answer (transport error or
timeout), the server's log holds a traceback, or the RSS at the end exceeds 1.2x the RSS at minute 2. RSS under
load jumps by up to a few hundred MB between samples and falls back (the buffers of the requests in flight), so
both are medians of a window of samples taken under load: minute 2 is the median of the samples from ``b = min(120
s, duration / 5)`` to ``b + w``, the end the median of the samples in the last ``w`` of the load, ``w = min(60 s,
duration / 5)`` (a short debug run has a baseline too; growth before ``b`` is warm-up: allocator pools, the
model's first passes at each batch size). The sample taken after the last answer, idle, must be under 1.2x minute
2 as well. Hostile requests answered 2xx where a 4xx was expected (or the reverse) are listed, not failed: the
names' cases (300 bytes, NUL, traversal) are valid images under odd names and are meant to be answered 200.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests"), str(HERE.parent / "src")]

import bombs  # noqa: E402  (tests/bombs.py: files that declare 12000 x 12000 pixels)
from dicom_files import write_dicom  # noqa: E402
from serve_load import rss_mb  # noqa: E402
from serve_process import SRC, serve_process  # noqa: E402

SAMPLE_EVERY_S = 10.0
RSS_GROWTH_LIMIT = 1.2
BOUNDARY = "medclass-soak-7d3f9a"


@dataclass
class Kind:
    """One kind of request: what to send and the status classes expected."""

    name: str
    valid: bool
    weight: float
    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    expect: tuple[int, ...] = (200,)


def multipart(parts: list[tuple[bytes, bytes]]) -> tuple[bytes, dict[str, str]]:
    """A ``multipart/form-data`` body of ``file`` fields written by hand, so that a file name can hold any byte."""
    chunks = []
    for filename, data in parts:
        head = b'Content-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
        chunks.append(b"--" + BOUNDARY.encode() + b"\r\n" + head)
        chunks.append(b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n")
    chunks.append(b"--" + BOUNDARY.encode() + b"--\r\n")
    return b"".join(chunks), {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


def png_bytes(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def dicom_bytes(pixels: np.ndarray) -> bytes:
    """A minimal uncompressed 16-bit DICOM (Secondary Capture) of ``pixels``, scaled to 12 bits."""
    buffer = write_dicom(io.BytesIO(), pixels.astype(np.uint16) * 16, 12, Modality="MR")
    return buffer.getvalue()


def oip(inputs: list[dict[str, Any]], **extra: Any) -> bytes:
    return json.dumps({"id": "soak", "inputs": inputs, **extra}).encode()


def request_kinds(model: dict[str, Any], images: list[np.ndarray], folder: Path) -> list[Kind]:
    """The request mix: about half valid (by weight), the rest hostile, each kind built once."""
    name, size, channels = model["name"], int(model["image_size"]), int(model["channels"])
    pngs = [png_bytes(p) for p in images]
    png, dcm = pngs[0], dicom_bytes(images[1])
    rng = np.random.default_rng(0)
    tensor = rng.standard_normal((1, channels, size, size)).astype(np.float32)
    shape = list(tensor.shape)
    infer = f"/v2/models/{name}/infer"
    json_input = {"name": "input", "datatype": "FP32", "shape": shape, "data": tensor.ravel().tolist()}
    binary_input = {**json_input, "parameters": {"binary_data_size": tensor.nbytes}}
    binary_input.pop("data")
    binary_head = oip([binary_input], parameters={"binary_data_output": True})
    bomb_png = bombs.png_bomb(folder / "bomb.png").read_bytes()
    bomb_dcm = bombs.dicom_bomb(folder / "bomb.dcm").read_bytes()
    jh = {"content-type": "application/json"}

    def upload(kind: str, valid: bool, weight: float, parts: list[tuple[bytes, bytes]], **kw: Any) -> Kind:
        body, headers = multipart(parts)
        return Kind(kind, valid, weight, "POST", "/v1/predict", body, headers, **kw)

    four = (400, 404, 413, 415, 422)
    return [
        # valid: 50 of 100 by weight
        upload("png", True, 20, [(b"scan.png", pngs[i % len(pngs)]) for i in range(1)]),
        upload("dicom", True, 10, [(b"scan.dcm", dcm)]),
        upload("png+dicom", True, 5, [(b"a.png", pngs[-1]), (b"b.dcm", dcm)]),
        Kind("oip_json", True, 10, "POST", infer, oip([json_input]), jh),
        Kind(
            "oip_binary",
            True,
            5,
            "POST",
            infer,
            binary_head + tensor.tobytes(),
            {
                "Inference-Header-Content-Length": str(len(binary_head)),
                "content-type": "application/octet-stream",
            },
        ),
        # hostile: 50 of 100 by weight
        upload("truncated_png", False, 4, [(b"cut.png", png[: len(png) // 2])], expect=four),
        upload("random_bytes.dcm", False, 4, [(b"noise.dcm", rng.bytes(4096))], expect=four),
        upload("name_300_bytes", False, 3, [(b"n" * 296 + b".png", png)]),
        upload("name_with_nul", False, 3, [(b"scan\x00evil.png", png)]),
        upload("name_control_chars", False, 3, [(b"\x1b[31mred\x07\x08\x7f\t.png", png)]),
        upload(
            "name_crlf", False, 2, [(b"a\r\nContent-Type: text/html\r\n\r\n.png", png)], expect=(200, *four)
        ),
        upload("path_traversal", False, 3, [(b"../../../../etc/passwd.png", png)]),
        upload("path_traversal_dos", False, 2, [(b"..\\..\\..\\windows\\win.ini.dcm", png)], expect=four),
        upload("empty_file", False, 2, [(b"empty.png", b"")], expect=four),
        Kind("empty_body", False, 2, "POST", "/v1/predict", expect=four),
        Kind(
            "predict_text_plain",
            False,
            2,
            "POST",
            "/v1/predict",
            png,
            {"content-type": "text/plain"},
            expect=four,
        ),
        Kind(
            "broken_multipart",
            False,
            2,
            "POST",
            "/v1/predict",
            b"--" + BOUNDARY.encode() + b"\r\ngarbage",
            {"content-type": f"multipart/form-data; boundary={BOUNDARY}"},
            expect=four,
        ),
        Kind(
            "infer_text_plain",
            False,
            2,
            "POST",
            infer,
            oip([json_input]),
            {"content-type": "text/plain"},
            expect=four,
        ),
        Kind(
            "oip_unknown_output",
            False,
            3,
            "POST",
            infer,
            oip([json_input], outputs=[{"name": "logits"}]),
            jh,
            expect=four,
        ),
        Kind(
            "oip_unknown_model", False, 2, "POST", "/v2/models/nope/infer", oip([json_input]), jh, expect=four
        ),
        Kind(
            "oip_wrong_shape",
            False,
            2,
            "POST",
            infer,
            oip([{**json_input, "shape": [1, channels, size + 1, size]}]),
            jh,
            expect=four,
        ),
        Kind(
            "oip_bad_json",
            False,
            2,
            "POST",
            infer,
            b'{"inputs": [{"name": "input", "shape": [1,',
            jh,
            expect=four,
        ),
        Kind(
            "oip_header_length_past_body",
            False,
            2,
            "POST",
            infer,
            binary_head,
            {"Inference-Header-Content-Length": "99999999"},
            expect=four,
        ),
        upload("png_declares_12000px", False, 2, [(b"bomb.png", bomb_png)], expect=four),
        upload("dicom_declares_12000px", False, 1, [(b"bomb.dcm", bomb_dcm)], expect=four),
    ]


def train_small_run(folder: Path) -> Path:
    """The phantom data set and the default model at 64 px, 1 epoch (``medclass train``)."""
    from medclass.data.synthetic import make_phantom_dataset

    data = make_phantom_dataset(folder / "data", n_per_class=40, size=128, seed=0)
    run = folder / "run"
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    command = [sys.executable, "-m", "medclass", "train", "--data", str(data), "--image-size", "64"]
    command += ["--epochs", "1", "--out", str(run)]
    with (folder / "train.log").open("w") as log:
        subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, check=True, timeout=1800)
    return run


def sample(pid: int, start: float) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    threads = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("Threads:"))
    return {
        "t_s": round(time.monotonic() - start, 1),
        "rss_mb": round(rss_mb(pid), 1),
        "threads": threads,
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
    }


def soak(url: str, pid: int, kinds: list[Kind], args: argparse.Namespace) -> tuple[list[tuple], list[dict]]:
    """``args.clients`` threads until ``args.minutes`` are up; the requests and the server's samples."""
    records: list[tuple[float, str, int | str, float]] = []  # (t, kind, status or error name, seconds)
    samples: list[dict[str, float]] = []
    start = time.monotonic()
    deadline = start + args.minutes * 60
    names, weights = [k.name for k in kinds], [k.weight for k in kinds]
    by_name = {k.name: k for k in kinds}

    def client(index: int) -> None:
        rnd = random.Random(args.seed * 1000 + index)
        with httpx.Client(base_url=url, timeout=args.timeout) as http:
            for _ in range(args.max_requests):
                if time.monotonic() >= deadline:
                    return
                kind = by_name[rnd.choices(names, weights)[0]]
                begin = time.perf_counter()
                try:
                    response = http.request(
                        kind.method, kind.path, content=kind.body, headers=kind.headers, params=kind.params
                    )
                    status: int | str = response.status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                records.append((time.monotonic() - start, kind.name, status, time.perf_counter() - begin))

    stop = threading.Event()

    def sampler() -> None:
        samples.append(sample(pid, start))
        for _ in range(int(args.minutes * 60 / SAMPLE_EVERY_S) + 10):
            if stop.wait(SAMPLE_EVERY_S):
                return
            samples.append(sample(pid, start))

    watcher = threading.Thread(target=sampler, daemon=True)
    watcher.start()
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=args.minutes * 60 + args.timeout + 60)
    stop.set()
    watcher.join(timeout=30)
    samples.append(sample(pid, start))  # the end, after the last answer
    return records, samples


def percentiles(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "p99_ms": float("nan")}
    ms = np.asarray(seconds) * 1e3
    return {f"p{q}_ms": round(float(np.percentile(ms, q)), 1) for q in (50, 95, 99)}


def status_class(status: int | str) -> str:
    return f"{status // 100}xx" if isinstance(status, int) else "no answer"


def summarise(records: list[tuple], samples: list[dict], kinds: list[Kind], args: argparse.Namespace) -> dict:
    duration = args.minutes * 60
    classes = Counter(status_class(s) for _, _, s, _ in records)
    by_kind: dict[str, Any] = {}
    for kind in kinds:
        rows = [(s, dt) for _, name, s, dt in records if name == kind.name]
        statuses = Counter(str(s) for s, _ in rows)
        unexpected = sum(n for s, n in statuses.items() if not (s.isdigit() and int(s) in kind.expect))
        by_kind[kind.name] = {
            "valid": kind.valid,
            "n": len(rows),
            "statuses": dict(sorted(statuses.items())),
            "unexpected": unexpected,
            **percentiles([dt for _, dt in rows]),
        }
    valid = [dt for _, name, s, dt in records if by_name_valid(kinds, name) and s == 200]
    hostile = [dt for _, name, _, dt in records if not by_name_valid(kinds, name)]
    loaded, idle = samples[:-1], samples[-1]
    base_t, window = min(120.0, duration / 5), min(60.0, duration / 5)
    first = [s["rss_mb"] for s in loaded if base_t <= s["t_s"] < base_t + window] or [loaded[-1]["rss_mb"]]
    last = [s["rss_mb"] for s in loaded if s["t_s"] >= duration - window] or [loaded[-1]["rss_mb"]]
    baseline = {"t_s": base_t, "window_s": window, "rss_mb": round(float(np.median(first)), 1)}
    end = {"t_s": duration - window, "window_s": window, "rss_mb": round(float(np.median(last)), 1)}
    growth = max(end["rss_mb"], idle["rss_mb"]) / baseline["rss_mb"]
    failures = []
    if classes.get("5xx"):
        failures.append(f"{classes['5xx']} answers 5xx")
    if classes.get("no answer"):
        failures.append(f"{classes['no answer']} requests without an answer")
    if growth > RSS_GROWTH_LIMIT:
        failures.append(
            f"RSS grew {growth:.2f}x from {baseline['rss_mb']} MB (minute 2) to {end['rss_mb']} MB under load "
            f"at the end, {idle['rss_mb']} MB idle after it"
        )
    return {
        "minutes": args.minutes,
        "clients": args.clients,
        "requests": len(records),
        "req_per_s": round(len(records) / duration, 2),
        "classes": dict(sorted(classes.items())),
        "valid_200": {"n": len(valid), **percentiles(valid)},
        "hostile": {"n": len(hostile), **percentiles(hostile)},
        "by_kind": by_kind,
        "rss_baseline": baseline,
        "rss_end": end,
        "rss_idle_after": idle,
        "rss_growth": round(growth, 3),
        "samples": samples,
        "failures": failures,
    }


def by_name_valid(kinds: list[Kind], name: str) -> bool:
    return next(k.valid for k in kinds if k.name == name)


def report(summary: dict) -> None:
    print(
        f"\n{summary['requests']} requests in {summary['minutes']} min from {summary['clients']} clients "
        f"({summary['req_per_s']} req/s)"
    )
    print("\n| status class | requests |\n|---|---:|")
    for name, n in summary["classes"].items():
        print(f"| {name} | {n} |")
    print("\n| requests | n | p50 ms | p95 ms | p99 ms |\n|---|---:|---:|---:|---:|")
    for label, key in (("valid, answered 200", "valid_200"), ("hostile, all", "hostile")):
        row = summary[key]
        print(f"| {label} | {row['n']} | {row['p50_ms']} | {row['p95_ms']} | {row['p99_ms']} |")
    print(
        "\n| kind | valid | n | statuses | unexpected | p50 ms | p99 ms |\n|---|---|---:|---|---:|---:|---:|"
    )
    for name, row in summary["by_kind"].items():
        statuses = ", ".join(f"{s}: {n}" for s, n in row["statuses"].items())
        print(
            f"| {name} | {'yes' if row['valid'] else 'no'} | {row['n']} | {statuses} | {row['unexpected']} "
            f"| {row['p50_ms']} | {row['p99_ms']} |"
        )
    print("\n| t (s) | RSS MB | threads | open fds |\n|---:|---:|---:|---:|")
    for s in summary["samples"]:
        print(f"| {s['t_s']:.0f} | {s['rss_mb']:.1f} | {s['threads']} | {s['fds']} |")
    print(
        f"\nRSS (medians of {summary['rss_end']['window_s']:.0f} s of samples): {summary['rss_baseline']['rss_mb']} MB "
        f"from {summary['rss_baseline']['t_s']:.0f} s -> {summary['rss_end']['rss_mb']} MB from "
        f"{summary['rss_end']['t_s']:.0f} s; {summary['rss_idle_after']['rss_mb']} MB idle after the load "
        f"(growth {summary['rss_growth']}x; limit {RSS_GROWTH_LIMIT}x)"
    )
    print(
        f"upload folders left in the server's TMPDIR: {summary['leftover_uploads']}; "
        f"tracebacks in the server's log: {summary['tracebacks']}"
    )
    print("FAILED: " + "; ".join(summary["failures"]) if summary["failures"] else "PASSED")


def main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="medclass-soak-") as scratch:
        folder = Path(scratch)
        run = Path(args.run) if args.run else train_small_run(folder)
        from medclass.data.synthetic import phantom_image

        rng = np.random.default_rng(1)
        images = [phantom_image(128, rng, lesion=i % 2 == 1)[0] for i in range(4)]
        server_tmp = folder / "server-tmp"
        server_tmp.mkdir()
        previous = os.environ.get("TMPDIR")
        os.environ["TMPDIR"] = str(server_tmp)  # inherited by the server only: this process's tempdir is set
        try:
            with serve_process(run, log=folder / "serve.log", timeout=300) as served:
                model = httpx.get(f"{served.url}/v1/model", timeout=30).json()
                kinds = request_kinds(model, images, folder)
                for kind in kinds[:5]:  # warm-up: each valid kind once
                    response = httpx.request(
                        kind.method,
                        served.url + kind.path,
                        content=kind.body,
                        headers=kind.headers,
                        timeout=120,
                    )
                    assert response.status_code == 200, (kind.name, response.text[:300])
                print(
                    f"serving {run} ({model['backend']}, {model['image_size']} px) at {served.url}; "
                    f"ready in {served.startup_s:.1f} s; soak of {args.minutes} min from {args.clients} clients",
                    flush=True,
                )
                load_before = os.getloadavg()
                records, samples = soak(served.url, served.process.pid, kinds, args)
                load_after = os.getloadavg()
                summary = summarise(records, samples, kinds, args)
                summary["load_average"] = {"before": load_before, "after": load_after}
                summary["leftover_uploads"] = len(list(server_tmp.glob("medclass-upload-*")))
        finally:
            if previous is None:
                os.environ.pop("TMPDIR", None)
            else:
                os.environ["TMPDIR"] = previous
        log = (folder / "serve.log").read_text(errors="replace")
        summary["tracebacks"] = log.count("Traceback")
        if summary["tracebacks"]:
            summary["failures"].append(f"{summary['tracebacks']} tracebacks in the server's log")
            print(log[-4000:])
        summary["run"] = str(run)
    report(summary)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return 1 if summary["failures"] else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="run folder (or bundle) to serve (default: train a small one)")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--max-requests", type=int, default=100_000, help="per client, a bound besides time")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the summary (with every 10-s sample) here")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main(parse_args()))
