"""medclass as a user installs it: the wheel built from this checkout, in a fresh venv of a current Python.

First the core alone (``pip install medclass-*.whl``): the core commands work on a tiny set and every command
that needs an extra exits 2 with its one ``pip install "medclass[...]"`` line. Then ``medclass[all]`` from the
same wheel, where ``medclass demo`` runs. The venv is shared by the tests of this module, in order
(``xdist_group``: ``make test`` runs with ``--dist loadgroup``), and the last test adds the extras to it.

The Python is $MEDCLASS_WHEEL_PYTHON, else Python 3.12 (what Colab runs) found on PATH or through pyenv; without
one the tests skip, and in CI (``CI=true``) they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from requirements_gate import missing

ROOT = Path(__file__).parents[2]
WHEEL_PYTHON = "3.12"
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("wheel")]


def find_python(version: str = WHEEL_PYTHON) -> str | None:
    """An interpreter of ``version``: $MEDCLASS_WHEEL_PYTHON, ``python3.12`` on PATH, or pyenv's newest 3.12.x."""
    candidates = [os.environ.get("MEDCLASS_WHEEL_PYTHON"), f"python{version}"]
    if shutil.which("pyenv"):
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip()
        candidates += sorted(map(str, Path(root).glob(f"versions/{version}.*/bin/python")), reverse=True)
    for candidate in filter(None, candidates):
        found = shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)
        if found and subprocess.run([found, "-c", "pass"], capture_output=True).returncode == 0:
            return found
    return None


def run(args: list[str], cwd: Path, timeout: int = 600, **env: str) -> subprocess.CompletedProcess[str]:
    """A command with the venv's environment (no PYTHONPATH: nothing of this checkout leaks in), offline like
    every test (module fixtures run before conftest's per-test offline switch, so it is set here too)."""
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    offline = {"MEDCLASS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        args,
        cwd=cwd,
        env={**clean, "COLUMNS": "200", "NO_COLOR": "1", **offline, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Venv:
    """A fresh virtual environment: its python, its pip and its ``medclass`` script."""

    def __init__(self, path: Path, python: str) -> None:
        done = run([python, "-m", "venv", str(path)], cwd=path.parent)
        assert done.returncode == 0, done.stderr
        self.path = path
        self.python = str(path / "bin" / "python")
        self.medclass = str(path / "bin" / "medclass")

    def pip_install(self, *specs: str) -> None:
        done = run([self.python, "-m", "pip", "install", "--quiet", *specs], cwd=self.path, timeout=900)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    def cli(self, *args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
        return run([self.medclass, *args], cwd=cwd, timeout=timeout)


def source_snapshot(dest: Path) -> Path:
    """A copy of this checkout's files as git sees them (tracked, and untracked ones git does not ignore).

    The build reads this copy, not the live checkout: the other pytest worker's tests may create or remove
    files under the checkout while the sdist is copied (a file listed and then gone failed the build once).
    """
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT)
    assert listed.returncode == 0, listed.stderr
    for name in filter(None, listed.stdout.split("\0")):
        source = ROOT / name
        if source.is_file():  # a deleted, not yet committed file is listed but absent
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel and sdist of this checkout, built as ``python -m build`` builds them for PyPI."""
    out = tmp_path_factory.mktemp("dist")
    source = source_snapshot(tmp_path_factory.mktemp("source"))
    done = run([sys.executable, "-m", "build", "--outdir", str(out), str(source)], cwd=out, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def wheel(dist: Path) -> Path:
    (found,) = dist.glob("medclass-*-py3-none-any.whl")
    return found


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Iterator[Venv]:
    """A venv of Python 3.12 with the core only (the wheel without extras)."""
    python = find_python()
    if python is None:
        missing(f"a Python {WHEEL_PYTHON} interpreter for the wheel test (set MEDCLASS_WHEEL_PYTHON)")
    venv = Venv(tmp_path_factory.mktemp("wheel-venv") / "venv", python)
    venv.pip_install(str(wheel))
    yield venv
    shutil.rmtree(venv.path, ignore_errors=True)  # several GB (torch)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory, core: Venv) -> Path:
    """A tiny phantom set made by the installed package, and a folder to run commands in."""
    folder = tmp_path_factory.mktemp("wheel-work")
    make = "from medclass.data.synthetic import make_phantom_dataset as m; m('data', n_per_class=12, size=48)"
    done = run([core.python, "-c", make], cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder


TRAIN = ("train", "--data", "data", "--image-size", "32", "--epochs", "1", "--set", "evaluation.bootstrap=20")


@pytest.fixture(scope="module")
def core_run(core: Venv, work: Path) -> Path:
    """``medclass train`` of the default model in the core-only venv."""
    done = core.cli(*TRAIN, "--out", "runs/core", cwd=work)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (work / "train-output.txt").write_text(done.stdout + done.stderr)
    return work / "runs" / "core"


def test_the_wheel_holds_the_files_the_commands_need(dist: Path, wheel: Path) -> None:
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    for data in (
        "medclass/configs/demo.yaml",
        "medclass/configs/recipes/accurate.yaml",
        "medclass/reporting/templates/clinical.html.j2",
        "medclass/serving/static/index.html",
    ):
        assert data in names, data
    assert list(dist.glob("medclass-*.tar.gz")), "no sdist"


def test_core_install_reports_its_version_and_python(core: Venv, work: Path) -> None:
    import medclass

    done = core.cli("--version", cwd=work)
    assert done.returncode == 0 and done.stdout.strip() == f"medclass {medclass.__version__}", done
    version = run([core.python, "-c", "import sys; print(*sys.version_info[:2])"], cwd=work).stdout.split()
    if not os.environ.get("MEDCLASS_WHEEL_PYTHON"):  # the default is the Python that Colab runs
        assert version == WHEEL_PYTHON.split("."), f"the venv runs Python {'.'.join(version)}"
    assert (int(version[0]), int(version[1])) >= (3, 10)


def test_core_trains_evaluates_predicts_and_reports(core: Venv, work: Path, core_run: Path) -> None:
    assert (core_run / "checkpoints" / "best.ckpt").is_file()
    image = next((work / "data").rglob("*.png"))
    for args in (
        ("evaluate", str(core_run)),
        ("predict", str(core_run), str(image)),
        ("report", str(core_run)),
    ):
        done = core.cli(*args, cwd=work)
        assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
    # The class-activation panel of the errors needs the explain extra: train and the report say so.
    assert 'pip install "medclass[explain]"' in (work / "train-output.txt").read_text()
    assert "pip install &quot;medclass[explain]&quot;" in (core_run / "report.html").read_text()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


EXTRA_COMMANDS = {
    "serve": lambda run_dir, image: ("serve", run_dir, "--port", str(_free_port())),
    "export": lambda run_dir, image: ("export", run_dir),
    "explain": lambda run_dir, image: ("explain", run_dir, image),
    "tune": lambda run_dir, image: ("tune", "--space", "space.yaml", "--data", "data"),
    "track": lambda run_dir, image: (*TRAIN, "--out", "runs/tracked", "--set", "tracking=mlflow"),
}


@pytest.mark.parametrize("extra", sorted(EXTRA_COMMANDS))
def test_a_command_without_its_extra_prints_the_pip_line(
    core: Venv, work: Path, core_run: Path, extra: str
) -> None:
    (work / "space.yaml").write_text("optim.lr: {type: float, low: 0.0001, high: 0.01, log: true}\n")
    image = str(next((work / "data").rglob("*.png")))
    done = core.cli(*EXTRA_COMMANDS[extra](str(core_run), image), cwd=work, timeout=300)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert len(lines) == 1 and lines[0].endswith(f'pip install "medclass[{extra}]"'), done.stderr
    assert not (work / "runs" / "tracked").exists(), "a failed start left a run folder"


def test_all_extras_install_from_the_wheel_and_the_demo_runs(
    core: Venv, wheel: Path, work: Path, tmp_path: Path
) -> None:
    """Last in this module: it adds the extras to the shared venv."""
    core.pip_install(f"medclass[all] @ {wheel.as_uri()}")
    done = core.cli("demo", cwd=tmp_path, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    reports = list((tmp_path / "runs").rglob("report.html"))
    assert reports, done.stdout[-2000:]
    tracked = core.cli(*TRAIN, "--out", "runs/mlflow", "--set", "tracking=mlflow", cwd=work)
    assert tracked.returncode == 0, tracked.stdout[-2000:] + tracked.stderr[-2000:]
    assert (work / "mlruns" / "mlflow.db").is_file()  # MLflow's local store works with the track extra
    explained = core.cli(
        "explain", str(reports[0].parent), str(next((tmp_path / "demo_data").rglob("*.png"))), cwd=tmp_path
    )
    assert explained.returncode == 0, explained.stderr[-2000:]
