"""`medclass serve` on a busy port: exit 2 naming the port and --port, before any model loads."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_script import console_script, script_env
from serve_process import free_port

import medclass.api.serve as serve_api
from medclass.cli.app import run_app
from medclass.serving.address import check_bindable
from medclass.utils.errors import ConfigError


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port another process listens on (here: this one) on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    """A file that passes the source check; loading it would fail (so would the test)."""
    path = tmp_path / "model.ckpt"
    path.write_bytes(b"not loaded")
    return path


def test_a_free_port_passes_a_busy_one_is_named(busy_port: int) -> None:
    check_bindable("127.0.0.1", free_port())
    with pytest.raises(ConfigError, match=f"--port {busy_port}: 127.0.0.1:{busy_port} is already in use"):
        check_bindable("127.0.0.1", busy_port)


def test_busy_port_exits_2_before_the_model_loads(
    busy_port: int, checkpoint: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded: list[object] = []
    monkeypatch.setattr(serve_api, "build_app", lambda *args, **kwargs: loaded.append(args))
    assert run_app(["serve", str(checkpoint), "--port", str(busy_port)]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and f"--port {busy_port}" in lines[0] and "another --port" in lines[0], lines
    assert not loaded


def test_busy_port_from_the_command_line(busy_port: int, checkpoint: Path) -> None:
    start = time.perf_counter()
    done = subprocess.run(
        [*console_script(), "serve", str(checkpoint), "--host", "127.0.0.1", "--port", str(busy_port)],
        capture_output=True,
        text=True,
        env=script_env(),
        timeout=120,
    )
    elapsed = time.perf_counter() - start
    assert done.returncode == 2, done.stderr
    assert f"--port {busy_port}" in done.stderr and "already in use" in done.stderr
    assert "Traceback" not in done.stderr and elapsed < 60
