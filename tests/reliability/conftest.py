"""A tiny data set, a config that trains in seconds, one finished run, and helpers to run the CLI and
snapshot a folder tree."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from medclass.cli.app import run_app

FAST_YAML = """\
seed: 3
data: {image_size: 32, batch_size: 16}
split: {strategy: stratified, val_frac: 0.25, test_frac: 0.25}
model: {name: cnn, cnn: {blocks: [{out_channels: 8}], dense: [8]}}
trainer: {epochs: 1, patience: null, progress_bar: false}
evaluation: {bootstrap: 0, report: false}
scheduler: {warmup_epochs: 1}
"""
SRC = Path(__file__).resolve().parents[2] / "src"


@dataclass
class Result:
    """What a CLI call gave: exit code, standard output and standard error."""

    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return " ".join((self.out + self.err).split())  # rich may wrap long paths


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 classes x 16 phantom images of 32 px."""
    from medclass.data.synthetic import make_phantom_dataset

    return make_phantom_dataset(tmp_path_factory.mktemp("tiny") / "data", n_per_class=16, size=32, seed=1)


@pytest.fixture(scope="session")
def fast_yaml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("config") / "fast.yaml"
    path.write_text(FAST_YAML)
    return path


@pytest.fixture(scope="session")
def finished_run(tiny_data: Path, fast_yaml: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished 1-epoch run on ``tiny_data`` (copy it before changing it)."""
    out = tmp_path_factory.mktemp("runs") / "run"
    code = run_app(["train", "--data", str(tiny_data), "--config", str(fast_yaml), "--out", str(out)])
    assert code == 0
    return out


@pytest.fixture
def run_copy(finished_run: Path, tmp_path: Path) -> Path:
    """A private copy of the finished run."""
    return Path(shutil.copytree(finished_run, tmp_path / "run"))


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """``cli(*args)``: run medclass in this process; returns a :class:`Result` (no exception may escape)."""

    def call(*args: str | os.PathLike) -> Result:
        capsys.readouterr()
        code = run_app([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return call


def run_cli_process(*args: str | os.PathLike, timeout: float = 120, **kwargs) -> Result:
    """medclass in a child process (for signals, FIFOs and anything that must not block the test)."""
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run(
        [sys.executable, "-c", "from medclass.cli.app import main; main()", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        **kwargs,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def snapshot(root: Path, skip: tuple[Path, ...] = ()) -> dict[str, tuple[str, int]]:
    """``relative path -> (kind or md5, mode)`` of everything under ``root``, except the ``skip`` trees."""
    found: dict[str, tuple[str, int]] = {}
    skip = tuple(p.resolve() for p in skip)
    for current, dirs, files in os.walk(root):
        here = Path(current)
        dirs[:] = [d for d in dirs if (here / d).resolve() not in skip]
        for name in [*dirs, *files]:
            path = here / name
            info = path.lstat()
            if path.is_symlink() or not path.is_file():
                kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "special"
            else:
                kind = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
            found[str(path.relative_to(root))] = (kind, info.st_mode)
    return found
