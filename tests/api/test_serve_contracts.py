"""Contracts of ``medclass serve`` (issue 21): MC dropout over real HTTP spreads the passes of a model with dropout,
an empty API key file is refused with exit 2 before anything loads, and the readiness probes answer 503 until the
app has started (and again once it has stopped), while ``/healthz`` answers 200 throughout."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from console_script import console_script, script_env
from fastapi.testclient import TestClient
from serve_process import Served, free_port, serve_process

from medclass.api.serve import build_app

PASSES = 8


@pytest.fixture(scope="module")
def server(trained_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve_process(trained_run, log=tmp_path_factory.mktemp("serve") / "serve.log") as served:
        yield served


def _upload(run: Path, n: int) -> list[tuple[str, tuple[str, bytes, str]]]:
    lines = (run / "splits.csv").read_text().splitlines()[1:]
    paths = [line.split(",")[0] for line in lines if line.endswith(",test")][:n]
    return [("file", (Path(p).name, Path(p).read_bytes(), "application/octet-stream")) for p in paths]


def test_mc_dropout_over_http_spreads_the_passes(server: Served, trained_run: Path) -> None:
    files = _upload(trained_run, 3)
    plain = httpx.post(f"{server.url}/v1/predict", files=files, timeout=120)
    sampled = httpx.post(f"{server.url}/v1/predict?mc_dropout={PASSES}", files=files, timeout=120)
    assert plain.status_code == sampled.status_code == 200, sampled.text
    for once, many in zip(plain.json()["results"], sampled.json()["results"], strict=True):
        assert (once["passes"], once["std"]) == (1, None)
        # The run's model has dropout (dense_dropout 0.2): with it on, the passes differ.
        assert many["passes"] == PASSES and many["std"] > 0 and many["entropy"] > 0
        assert many["probabilities"] != once["probabilities"]  # the mean of the passes, not the plain pass
        assert sum(many["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("content", ["", "  \n\n"], ids=["empty", "blank"])
def test_an_empty_api_key_file_exits_2_before_loading(
    trained_run: Path, tmp_path: Path, content: str
) -> None:
    key_file = tmp_path / "token"
    key_file.write_text(content)
    command = [*console_script(), "serve", str(trained_run), "--port", str(free_port()), "--workers", "2"]
    # A session of its own: a server that wrongly starts is stopped with its workers, not left running.
    process = subprocess.Popen(
        [*command, "--api-key-file", str(key_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=script_env(),
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"medclass serve started with an empty key file: {(out + err)[-500:]}")
    assert process.returncode == 2, out + err
    assert len(err.strip().splitlines()) == 1 and str(key_file) in err and "empty" in err, err
    assert "Started server process" not in out + err  # refused before any worker


def test_readiness_is_503_until_started_and_after_stopping(trained_run: Path) -> None:
    app = build_app(trained_run)
    name = Path(trained_run).resolve().name  # the served name: the run folder's
    probes = ("/readyz", "/v2/health/ready", f"/v2/models/{name}/ready")
    unstarted = TestClient(app)  # no lifespan: the app is not started yet
    for path in probes:
        response = unstarted.get(path)
        assert response.status_code == 503, path
        assert response.json()["error"] == "not_ready"
    assert unstarted.get("/healthz").status_code == 200  # alive, not ready
    with TestClient(app) as started:
        assert [started.get(path).status_code for path in probes] == [200, 200, 200]
        assert started.get("/readyz").json() == {"status": "ready"}
    assert [unstarted.get(path).status_code for path in probes] == [503, 503, 503]
