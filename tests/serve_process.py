"""``medclass serve`` as a child process on a free loopback port, for the browser, fuzz and start-up tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

SRC = Path(__file__).resolve().parents[1] / "src"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far, from ``/proc`` (None where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Served:
    """A running server: its URL, the wall time and the CPU time it took to become ready."""

    url: str
    startup_s: float
    startup_cpu_s: float | None
    process: subprocess.Popen


@contextmanager
def serve_process(source: Path, *args: str, log: Path, timeout: float = 120.0) -> Iterator[Served]:
    """Run ``medclass serve SOURCE --port P ARGS`` until ``/readyz`` answers 200; stop it on exit.

    The server's output goes to ``log`` (a file, so that a full pipe never blocks it). ``startup_s`` is the
    time from starting the process to the first 200 from ``/readyz``; ``startup_cpu_s`` the CPU time the server
    used until then (on a machine shared with other work, the wall time grows with the load, this does not).
    """
    port = free_port()
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    command = [sys.executable, "-m", "medclass", "serve", str(source), "--port", str(port), *args]
    start = time.perf_counter()
    handle = log.open("w")
    process = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"medclass serve exited with {process.returncode}: {log.read_text()}")
            if time.perf_counter() - start > timeout:
                raise TimeoutError(f"medclass serve not ready on {url} after {timeout:.0f} s")
            try:
                if httpx.get(f"{url}/readyz", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        yield Served(url, time.perf_counter() - start, cpu_seconds(process.pid), process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        handle.close()
