"""Faults: kill -9 during the cache build and during a checkpoint write, two trainings at once on one cache,
a full disk while checkpointing, and resuming a finished run with more epochs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from reliability.conftest import SRC, run_cli_process
from requirements_gate import missing

from medclass.data.cache import build_cache
from medclass.data.preprocess import PreprocessSettings, load_preprocessed
from medclass.inference.checkpoint import read_checkpoint
from medclass.training.fit import AtomicCheckpointIO

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]


def _child(code: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env)


def _wait_for(condition, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "the child never reached the point where it is killed"
        time.sleep(0.02)


def test_kill_during_cache_build_leaves_no_entry_that_is_reused(tiny_data: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    paths = sorted(str(p) for p in tiny_data.rglob("*.png"))
    started = tmp_path / "started"
    child = _child(
        f"""
        import time
        from pathlib import Path
        import medclass.data.cache as cache
        from medclass.data.preprocess import PreprocessSettings
        real = cache.load_preprocessed
        def slow(path, settings):
            Path({str(started)!r}).touch()
            time.sleep(0.2)
            return real(path, settings)
        cache.load_preprocessed = slow
        cache.build_cache({paths!r}, PreprocessSettings(24), cache_dir={str(cache_dir)!r}, workers=1)
        """
    )
    try:
        _wait_for(started.exists)
        time.sleep(0.5)  # a few images decoded into the temporary array
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(30)
    arrays = cache_dir / "arrays"
    assert list(arrays.glob("*.json")) == [] and list(arrays.glob("*.npy")) == []  # no entry counts
    assert len(list(arrays.glob(".*.tmp"))) == 1  # the half-filled array stays a temporary

    cache = build_cache(paths, PreprocessSettings(24), cache_dir=cache_dir, workers=1)
    assert cache.readable.all()
    for i in (0, len(paths) - 1):
        np.testing.assert_array_equal(cache[i], load_preprocessed(paths[i], PreprocessSettings(24)))


def test_kill_during_checkpoint_write_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    target = tmp_path / "checkpoints" / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"epoch": 0, "state_dict": {"w": torch.zeros(3)}}, target)
    halfway = tmp_path / "halfway"
    child = _child(
        f"""
        import time
        from pathlib import Path
        import torch
        import medclass.training.fit as fit
        def slow_save(obj, handle):
            handle.write(b"PK\\x03\\x04 half a checkpoint")
            handle.flush()
            Path({str(halfway)!r}).touch()
            time.sleep(60)
        fit.torch.save = slow_save
        fit.AtomicCheckpointIO().save_checkpoint({{"epoch": 1}}, Path({str(target)!r}))
        """
    )
    try:
        _wait_for(halfway.exists)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(30)
    assert read_checkpoint(target)["epoch"] == 0  # whole, and the old one
    assert [p.name for p in target.parent.iterdir() if p.name.startswith(".")]  # only a temporary is half


def test_kill_during_training_then_resume_finishes(tiny_data: Path, fast_yaml: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from medclass.cli.app import main; main()",
            "train",
            "--data",
            str(tiny_data),
            "--config",
            str(fast_yaml),
            "--out",
            str(out),
            "--epochs",
            "30",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(lambda: (out / "checkpoints" / "last.ckpt").exists(), timeout=120)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(30)
    assert read_checkpoint(out / "checkpoints" / "last.ckpt")["epoch"] >= 0
    result = run_cli_process(
        "train",
        "--config",
        fast_yaml,
        "--out",
        out,
        "--resume",
        "--epochs",
        "3",
        "--data",
        tiny_data,
        timeout=240,
    )
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    assert len(pd.read_csv(out / "metrics.csv")) == 3


def test_two_trainings_at_once_share_one_cache(tiny_data: Path, fast_yaml: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "shared-cache"
    env = {
        **os.environ,
        "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "MEDCLASS_CACHE_DIR": str(cache_dir),
    }
    argv = [
        sys.executable,
        "-c",
        "from medclass.cli.app import main; main()",
        "train",
        "--data",
        str(tiny_data),
        "--config",
        str(fast_yaml),
    ]
    children = [
        subprocess.Popen(
            [*argv, "--out", str(tmp_path / f"run{k}")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(2)
    ]
    for child in children:
        _, err = child.communicate(timeout=240)
        assert child.returncode == 0, err
    paths = pd.read_csv(tmp_path / "run0" / "splits.csv")["path"].tolist()
    # One entry holds the training images of both runs; smaller ones are the end-of-run figures' few images.
    entries = [
        entry
        for entry in (cache_dir / "arrays").glob("*.json")
        if sorted(json.loads(entry.read_text())["paths"]) == sorted(paths)
    ]
    assert len(entries) == 1 and not list((cache_dir / "arrays").glob(".*.tmp"))
    cache = build_cache(paths, PreprocessSettings(32), cache_dir=cache_dir, workers=1)
    assert cache.location.stem == entries[0].stem  # reused, and it still matches the files
    np.testing.assert_array_equal(cache[3], load_preprocessed(paths[3], PreprocessSettings(32)))


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 512 KiB tmpfs; skipped (with the reason) where this machine cannot mount one, and failed in CI
    (``CI=true``), like the other tests that need something of the machine."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        missing("mounting a small tmpfs needs root and mount(8)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        missing(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_while_checkpointing_is_a_clear_error(
    finished_run: Path, fast_yaml: Path, tiny_data: Path, small_disk: Path, cli
) -> None:
    out = Path(shutil.copytree(finished_run, small_disk / "run"))
    free = shutil.disk_usage(small_disk).free
    # Leave room for the small files of a resume (config, data report, metrics) but not for a checkpoint.
    (small_disk / "filler").write_bytes(b"\0" * max(free - 12 * 1024, 0))
    result = cli(
        "train", "--data", tiny_data, "--config", fast_yaml, "--out", out, "--resume", "--epochs", "2"
    )
    assert result.code == 2, result.text
    assert "no space left" in result.text and str(out) in result.text
    assert read_checkpoint(out / "checkpoints" / "last.ckpt")["epoch"] == 0  # the previous one loads
    (small_disk / "filler").unlink()
    result = cli(
        "train", "--data", tiny_data, "--config", fast_yaml, "--out", out, "--resume", "--epochs", "2"
    )
    assert result.code == 0, result.text


def test_resume_with_more_epochs_continues_the_warmup_schedule(
    recwarn: pytest.WarningsRecorder, run_copy: Path, fast_yaml: Path, tiny_data: Path, cli
) -> None:
    result = cli(
        "train", "--data", tiny_data, "--config", fast_yaml, "--out", run_copy, "--resume", "--epochs", "3"
    )
    assert result.code == 0, result.text
    metrics = pd.read_csv(run_copy / "metrics.csv")
    assert metrics["epoch"].tolist() == [1, 2, 3]
    assert not [w for w in recwarn if "dirpath has changed" in str(w.message)]
    assert "exists and is not empty" not in result.err and "Warning" not in result.err
    # The run was copied: the best score still carries over (Lightning alone forgets it in a moved folder).
    state = read_checkpoint(run_copy / "checkpoints" / "last.ckpt")["callbacks"]
    best = next(v for k, v in state.items() if k.startswith("ModelCheckpoint{'monitor': 'val_loss'"))
    assert float(best["best_model_score"]) == pytest.approx(metrics["val_loss"].min(), abs=1e-4)
    assert Path(best["best_model_path"]).parent == run_copy / "checkpoints"


def test_known_harmless_torchmetrics_warnings_are_silenced() -> None:
    import warnings

    from torchmetrics.classification import MulticlassAUROC

    from medclass.training.fit import known_harmless_warnings_silenced

    def auroc() -> None:
        metric = MulticlassAUROC(3)
        metric.update(torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1]]), torch.tensor([0, 1]))
        metric.compute()

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        auroc()
    assert seen, "torchmetrics no longer warns here: the filter below tests nothing"
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with known_harmless_warnings_silenced():
            auroc()
    assert [str(w.message) for w in seen] == []


def test_splits_file_run_names_the_file_and_reports_its_leak(
    tiny_data: Path, fast_yaml: Path, tmp_path: Path, cli
):
    images = sorted(tiny_data.rglob("*.png"))
    copy = tmp_path / "copy_of_first.png"
    shutil.copyfile(images[0], copy)
    rows = [(p, p.parent.name, ["train", "train", "val", "test"][i % 4]) for i, p in enumerate(images)]
    rows[0] = (images[0], images[0].parent.name, "train")
    rows.append((copy, images[0].parent.name, "test"))
    splits = tmp_path / "my_splits.csv"
    pd.DataFrame(rows, columns=["path", "label", "split"]).to_csv(splits, index=False)
    result = cli("train", "--splits", splits, "--config", fast_yaml, "--out", tmp_path / "run")
    assert result.code == 0, result.text
    assert f"data {splits} (splits-file)" in result.text and "data None" not in result.text
    assert "1 duplicate group(s) cross the given splits" in result.text
    assert "kept in one split" not in result.text
