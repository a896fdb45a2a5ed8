"""Two worker processes share one study in a real PostgreSQL server and finish N trials, none twice.

The server is Debian's (``/usr/lib/postgresql/<version>/bin``, installed by ``make sysdeps``), started on
loopback in a temporary folder for this test only; the test skips with the reason when it is absent (fails in CI).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest
import yaml
from console_script import console_script, script_env
from optuna.trial import TrialState
from requirements_gate import missing

from medclass.campaigns.study import SURPLUS_ATTR, with_installed_driver

N_TRIALS = 4


def _server_binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_server_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the `postgres` system user."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """``postgresql://postgres@127.0.0.1:<port>/postgres`` of a throwaway server."""
    binaries = _server_binaries()
    if binaries is None:
        missing("PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin (run `make sysdeps`)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        missing("running as root without runuser: cannot start PostgreSQL as another user")
    # Not under pytest's tmp_path: its parents are private to root, and the server runs as `postgres`.
    root = Path(tempfile.mkdtemp(prefix="medclass-pg-"))
    root.chmod(0o755)
    data, log = root / "data", root / "server.log"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = _free_port()
    run = lambda cmd: subprocess.run(_as_server_user(cmd), check=True, capture_output=True, text=True)  # noqa: E731
    try:
        run([str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"])
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        run([str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start"])
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"could not start PostgreSQL: {exc.stderr or exc.stdout}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_server_user([str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                       capture_output=True)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


def test_two_workers_fill_one_study_without_duplicates(
    postgres_url: str, make_tiny_tree: Callable[[], dict[str, Any]], tmp_path: Path
) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(make_tiny_tree()))
    space = tmp_path / "space.yaml"
    space.write_text(
        "lr: {type: float, low: 1.0e-3, high: 3.0e-2, log: true}\nbatch_size: {type: int, low: 8, high: 24}\n"
    )
    env = script_env(OMP_NUM_THREADS="1")
    command = [*console_script(), "tune", "--config", str(base), "--space", str(space)]
    command += ["--trials", str(N_TRIALS), "--storage", postgres_url, "--study", "shared"]
    workers = [
        subprocess.Popen(
            [*command, "--out", str(tmp_path / f"worker{i}")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        for i in range(2)
    ]
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    for worker, output in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, output[-3000:]

    study = optuna.load_study(study_name="shared", storage=with_installed_driver(postgres_url))
    counted = [t for t in study.trials if not t.user_attrs.get(SURPLUS_ATTR)]
    finished = [t for t in counted if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == N_TRIALS and len(counted) == N_TRIALS
    numbers = [t.number for t in study.trials]
    assert len(numbers) == len(set(numbers))
    assert len({t.params["lr"] for t in finished}) == N_TRIALS  # the workers drew different parameters
    # Each trial was trained by exactly one worker: its run folder exists in one worker's --out, not both.
    trained = [
        {int(p.name.split("-")[1]) for p in (tmp_path / f"worker{i}" / "trials").glob("trial-*")}
        for i in range(2)
    ]
    assert trained[0].isdisjoint(trained[1]) and trained[0] | trained[1] == {t.number for t in finished}
    assert all(trained), f"one worker ran no trial: {trained}"
    # Both workers' tables list the whole study.
    for i in range(2):
        table = pd.read_csv(tmp_path / f"worker{i}" / "trials.csv")
        assert set(table["number"]) >= {t.number for t in finished}
