"""`medclass train` that fails to start (a bad model name, a missing weights file, Ctrl-C before the first epoch)
leaves no run folder, so the same command, fixed, runs without --overwrite."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from console_script import console_script, script_env

from medclass.cli.app import run_app

FAST_FLAGS = [
    "--model", "cnn", "--image-size", "32", "--epochs", "1", "--batch-size", "16",
    "--set", "model.cnn.blocks=[{out_channels: 4}, {out_channels: 8}]",
    "--set", "trainer.progress_bar=false", "--set", "evaluation.bootstrap=20",
    "--set", "evaluation.report=false", "--set", "data.num_workers=0",
]  # fmt: skip


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("setting", "named"),
    [("model.name=timm:not_a_model", "not_a_model"), ("model.weights=/nonexistent.pt", "/nonexistent.pt")],
)
def test_a_bad_model_exits_2_and_leaves_no_run_folder(
    phantom_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], setting: str, named: str
) -> None:
    out = tmp_path / "runs" / "r"
    command = ["train", "--data", str(phantom_data), "--out", str(out), *FAST_FLAGS]
    assert run_app([*command, "--set", setting]) == 2
    lines = _error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and named in lines[0], lines
    assert not out.exists()
    if "timm" in setting:  # the same command, fixed: no --overwrite needed
        assert run_app(command) == 0
        assert (out / "checkpoints" / "best.ckpt").is_file()


@pytest.mark.parametrize(("sent", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 128 + signal.SIGTERM)])
def test_ctrl_c_or_sigterm_before_the_first_epoch_leaves_no_run_folder(
    phantom_data: Path, tmp_path: Path, sent: signal.Signals, code: int
) -> None:
    out = tmp_path / "r"
    command = ["train", "--data", str(phantom_data), "--out", str(out), *FAST_FLAGS]
    # An epoch of a million samples: the first checkpoint is far away when Ctrl-C comes.
    slow = ["--set", "data.sampler=weighted", "--set", "data.epoch_size=1000000"]
    process = subprocess.Popen(
        [*console_script(), *command, *slow],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=script_env(PYTHONUNBUFFERED="1"),
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        started = any(line.startswith("run folder:") for line in process.stdout)
        assert started, process.stderr.read()
        time.sleep(1.0)  # into the fit, before any epoch ends
        assert out.is_dir() and not (out / "checkpoints" / "last.ckpt").exists()
        process.send_signal(sent)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == code, stderr
    assert f"removed {out}" in stdout and "Traceback" not in stderr
    assert ("interrupted" if sent == signal.SIGINT else "nothing to resume") in stderr
    assert not out.exists()
    assert run_app(command) == 0  # the same command again, without --overwrite
