"""A matrix of bad inputs and faults: each gives its exit code, a message naming the file or key, no traceback,
and leaves every file outside the run folder as it was.

Each case builds its bad input inside a fresh workspace (a copy of a tiny data set, a fast config and a
finished run) and returns the command line. Cases that could block (FIFOs, signals) run in a child process
with a timeout; the rest run in this process through ``run_app``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import write_image
from reliability.conftest import SRC, Result, run_cli_process, snapshot

pytestmark = pytest.mark.timeout(300)


@dataclass
class Workspace:
    """Where a case runs: ``data`` (2 classes x 16 images), ``config`` (fast.yaml), ``run`` (a finished run),
    ``out`` (the run folder a command may create: the only place that may change)."""

    root: Path
    data: Path
    config: Path
    run: Path

    @property
    def out(self) -> Path:
        return self.root / "out"

    def train(self, *extra: str | Path) -> list[str | Path]:
        return ["train", "--config", self.config, "--out", self.out, *extra]

    def csv(self, name: str, rows: list[list[str | Path]], header: str = "path,label") -> Path:
        path = self.root / name
        lines = [header, *(",".join(str(c) for c in row) for row in rows)]
        path.write_text("\n".join(lines) + "\n")
        return path

    def images(self, label: str | None = None) -> list[Path]:
        found = sorted(self.data.rglob("*.png"))
        return [p for p in found if label is None or p.parent.name == label]

    def rows(self, split: bool = False) -> list[list[str | Path]]:
        rows = []
        for i, path in enumerate(self.images()):
            rows.append(
                [path, path.parent.name, *([["train", "train", "val", "test"][i % 4]] if split else [])]
            )
        return rows


@dataclass
class Case:
    id: str
    build: Callable[[Workspace], list[str | Path]]
    expect: Callable[[Workspace], str] | str
    code: int = 2
    child: bool = False  # run in a child process (may block, or sends a signal)


def _fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def _folders(root: Path, counts: dict[str, int]) -> Path:
    for c, (label, n) in enumerate(counts.items()):
        for i in range(n):
            write_image(root / label / f"{label}{i}.png", size=(24, 24), seed=100 * c + i)
    return root


def _replace_ckpt(run: Path, name: str, content) -> Path:
    path = run / "checkpoints" / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    return path


def _truncate(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _yaml(ws: Workspace, name: str, text: str) -> Path:
    path = ws.root / name
    path.write_text(text)
    return path


# --- data ------------------------------------------------------------------------------------------------
DATA_CASES = [
    Case(
        "data-missing",
        lambda ws: ws.train("--data", ws.root / "nope"),
        lambda ws: f"{ws.root / 'nope'}: no such",
    ),
    Case("data-empty-folder", lambda ws: ws.train("--data", _mk(ws.root / "empty")), "empty folder"),
    Case(
        "data-one-class",
        lambda ws: ws.train("--data", _folders(ws.root / "one", {"a": 6})),
        "only one class ('a')",
    ),
    Case(
        "data-images-loose",
        lambda ws: ws.train("--data", _loose(ws.root / "loose")),
        "the images lie directly in this folder",
    ),
    Case(
        "data-class-folder-empty",
        lambda ws: ws.train("--data", _mk(_folders(ws.root / "d", {"a": 6, "b": 6}) / "c").parent),
        "class folder 'c' has no image file",
    ),
    Case(
        "data-mixed-split-and-class",
        lambda ws: ws.train("--data", _mixed(ws.root / "mixed")),
        "mixes split folders (train)",
    ),
    Case(
        "data-presplit-class-missing-in-train",
        lambda ws: ws.train("--data", _presplit_missing(ws.root / "ps")),
        "class(es) c have no folder in the training split",
    ),
    Case(
        "data-class-all-unreadable",
        lambda ws: ws.train("--data", _spoil_class(ws, "tumor")),
        "class 'tumor' has 0 readable image(s)",
    ),
    Case(
        "data-class-too-small",
        lambda ws: ws.train("--data", _folders(ws.root / "small", {"a": 8, "b": 3})),
        "class 'b' has 3 readable image(s), fewer than data.min_images_per_class = 5",
    ),
    Case(
        "data-fifo-in-class-folder-train",
        lambda ws: ws.train("--data", _fifo_in_class(ws)),
        "skipped 1 unreadable",
        code=0,
        child=True,
    ),
    Case(
        "data-fifo-in-class-folder-inspect",
        lambda ws: ["inspect", _fifo_in_class(ws)],
        "x.png",
        code=0,
        child=True,
    ),
    Case(
        "manifest-missing-column",
        lambda ws: ws.train("--data", ws.csv("m.csv", [["a.png"]], header="path")),
        lambda ws: f"{ws.root / 'm.csv'}: line 1 (header): missing column(s) 'label'",
    ),
    Case(
        "manifest-file-not-found",
        lambda ws: ws.train("--data", ws.csv("m.csv", [*ws.rows(), ["gone.png", "tumor"]])),
        "column 'path': file not found",
    ),
    Case(
        "manifest-empty-label",
        lambda ws: ws.train("--data", ws.csv("m.csv", [*ws.rows(), [ws.images()[0], ""]])),
        "column 'label': empty",
    ),
    Case(
        "manifest-bad-split",
        lambda ws: ws.train(
            "--data", ws.csv("m.csv", [[*r[:2], "trian"] for r in ws.rows()], header="path,label,split")
        ),
        "column 'split': unknown value 'trian'",
    ),
    Case(
        "manifest-path-twice",
        lambda ws: ws.train("--data", ws.csv("m.csv", [*ws.rows(), ws.rows()[0]])),
        "already listed on line 2",
    ),
    Case(
        "manifest-fifo-row",
        lambda ws: ws.train("--data", ws.csv("m.csv", [*ws.rows(), [_fifo(ws.root / "p.png"), "tumor"]])),
        lambda ws: f"is a named pipe (FIFO), not a regular file: {ws.root / 'p.png'}",
        child=True,
    ),
    Case(
        "manifest-label-case-typo",
        lambda ws: ws.train("--data", ws.csv("m.csv", [*ws.rows(), [_extra_image(ws, "t1.png"), "Tumor"]])),
        "class 'Tumor' has 1 readable image(s), fewer than data.min_images_per_class = 5; did you mean 'tumor'?",
    ),
    Case(
        "manifest-label-edit-typo",
        lambda ws: ws.train("--data", ws.csv("m.csv", [*ws.rows(), [_extra_image(ws, "t2.png"), "tumro"]])),
        "did you mean 'tumor'?",
    ),
    Case(
        "manifest-binary",
        lambda ws: ws.train("--data", _bytes(ws.root / "m.csv", b"\xff\xfe\x00garbage\x00\x81")),
        lambda ws: str(ws.root / "m.csv"),
    ),
    Case("splits-not-found", lambda ws: ws.train("--splits", ws.root / "s.csv"), "--splits"),
    Case(
        "splits-class-only-in-test",
        lambda ws: ws.train(
            "--splits",
            ws.csv(
                "s.csv",
                [[p, lab, "test" if lab == "tumor" else s] for p, lab, s in ws.rows(split=True)],
                header="path,label,split",
            ),
        ),
        "class 'tumor' has no image in the train split",
    ),
    Case(
        "splits-bad-split",
        lambda ws: ws.train("--splits", ws.csv("s.csv", [[*ws.rows()[0], "dev"]], header="path,label,split")),
        "column 'split': unknown value 'dev'",
    ),
    Case(
        "splits-unknown-label",
        lambda ws: ws.train(
            "--data",
            ws.data,
            "--splits",
            ws.csv("s.csv", [[ws.images()[0], "tumour", "train"]], header="path,label,split"),
        ),
        "unknown label 'tumour'",
    ),
    Case(
        "splits-missing-column",
        lambda ws: ws.train("--splits", ws.csv("s.csv", ws.rows())),
        "missing column(s) 'split'",
    ),
    Case(
        "splits-column-twice",
        lambda ws: ws.train(
            "--splits",
            ws.csv("s.csv", [[*r, "x"] for r in ws.rows(split=True)], header="path,label,split,Split"),
        ),
        "column(s) 'split' appear more than once",
    ),
    Case(
        "splits-binary",
        lambda ws: ws.train("--splits", _bytes(ws.root / "s.csv", bytes(range(256)) * 4)),
        lambda ws: str(ws.root / "s.csv"),
    ),
    Case(
        "group-regex-invalid",
        lambda ws: ws.train("--data", ws.data, "--strategy", "group", "--group-regex", "(["),
        "split.group_regex = '([': not a valid regular expression",
    ),
    Case(
        "group-regex-no-match",
        lambda ws: ws.train("--data", ws.data, "--strategy", "group", "--group-regex", "^patient(\\d+)"),
        "does not match the file name",
    ),
    Case(
        "strategy-predefined-without-splits",
        lambda ws: ws.train("--data", ws.data, "--strategy", "predefined"),
        "--strategy predefined needs split folders",
    ),
    Case(
        "evaluate-data-all-unreadable",
        lambda ws: ["evaluate", ws.run, "--data", _spoil_all(ws), "--out", ws.out / "m.json"],
        "none of the 32 image(s) to evaluate is readable (e.g. ",
    ),
]


def _mk(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _loose(root: Path) -> Path:
    write_image(root / "a.png")
    return root


def _mixed(root: Path) -> Path:
    _folders(root / "train", {"a": 6, "b": 6})
    _folders(root, {"c": 6})
    return root


def _presplit_missing(root: Path) -> Path:
    _folders(root / "train", {"a": 6, "b": 6})
    _folders(root / "test", {"a": 6, "b": 6, "c": 6})
    return root


def _spoil_class(ws: Workspace, label: str) -> Path:
    for path in ws.images(label):
        path.write_bytes(b"broken " + path.name.encode())
    return ws.data


def _spoil_all(ws: Workspace) -> Path:
    for path in ws.images():
        path.write_bytes(b"broken")
    return ws.data


def _fifo_in_class(ws: Workspace) -> Path:
    _fifo(ws.data / "tumor" / "x.png")
    return ws.data


def _extra_image(ws: Workspace, name: str) -> Path:
    return write_image(ws.root / "extra" / name, size=(24, 24), seed=999 + len(name))


# --- config ----------------------------------------------------------------------------------------------
CONFIG_CASES = [
    Case(
        "config-base-number",
        lambda ws: [
            "train",
            "--config",
            _yaml(ws, "c.yaml", "base: 42\n"),
            "--data",
            ws.data,
            "--out",
            ws.out,
        ],
        lambda ws: f"config file {ws.root / 'c.yaml'}: base = 42: expected a file name",
    ),
    Case(
        "config-base-missing",
        lambda ws: [
            "train",
            "--config",
            _yaml(ws, "c.yaml", "base: gone.yaml\n"),
            "--data",
            ws.data,
            "--out",
            ws.out,
        ],
        "gone.yaml: not found",
    ),
    Case(
        "config-base-cycle",
        lambda ws: [
            "train",
            "--config",
            _yaml(ws, "c.yaml", "base: c.yaml\n"),
            "--data",
            ws.data,
            "--out",
            ws.out,
        ],
        "'base' refers back to itself",
    ),
    Case(
        "config-binary",
        lambda ws: [
            "train",
            "--config",
            _bytes(ws.root / "c.yaml", b"\x89PNG\r\n\x1a\n\xff\xfe"),
            "--data",
            ws.data,
        ],
        lambda ws: f"config file {ws.root / 'c.yaml'}",
    ),
    Case(
        "config-not-a-mapping",
        lambda ws: ["train", "--config", _yaml(ws, "c.yaml", "- a\n- b\n"), "--data", ws.data],
        "expected a mapping of sections, got list",
    ),
    Case(
        "config-bad-yaml",
        lambda ws: ["train", "--config", _yaml(ws, "c.yaml", "data: [unclosed\n"), "--data", ws.data],
        "not valid YAML",
    ),
    Case(
        "config-not-found",
        lambda ws: ["train", "--config", ws.root / "none.yaml", "--data", ws.data],
        "none.yaml: not found",
    ),
    Case(
        "config-unknown-key",
        lambda ws: ws.train("--data", ws.data, "--set", "optim.lrr=0.1"),
        "optim.lrr = 0.1: unknown key",
    ),
    Case("config-bad-value", lambda ws: ws.train("--data", ws.data, "--set", "optim.lr=-1"), "optim.lr = -1"),
    Case(
        "config-set-without-equals",
        lambda ws: ws.train("--data", ws.data, "--set", "optim.lr"),
        "override 'optim.lr'",
    ),
    Case(
        "config-set-into-a-value",
        lambda ws: ws.train("--data", ws.data, "--set", "optim.lr.x=1"),
        "optim.lr = {'x': 1}",
    ),
    Case(
        "config-window-width-zero",
        lambda ws: ws.train("--data", ws.data, "--set", "data.window=[40,0]"),
        "data.window",
    ),
    Case(
        "config-min-images-zero",
        lambda ws: ws.train("--data", ws.data, "--set", "data.min_images_per_class=0"),
        "data.min_images_per_class = 0",
    ),
]

# --- checkpoint ------------------------------------------------------------------------------------------
CHECKPOINT_CASES = [
    Case(
        "ckpt-holds-a-tensor",
        lambda ws: [
            "evaluate",
            _replace_ckpt(ws.run, "t.ckpt", torch.zeros(3)),
            "--data",
            ws.data,
            "--out",
            ws.out / "m.json",
        ],
        "t.ckpt: not a medclass checkpoint (holds a Tensor",
    ),
    Case(
        "ckpt-without-state-dict",
        lambda ws: [
            "predict",
            _replace_ckpt(ws.run, "n.ckpt", _without(ws, "state_dict")),
            ws.images()[0],
            "--out",
            ws.out / "p.csv",
        ],
        "n.ckpt: a medclass checkpoint without model weights",
    ),
    Case(
        "ckpt-without-medclass",
        lambda ws: [
            "predict",
            _replace_ckpt(ws.run, "f.ckpt", _without(ws, "medclass")),
            ws.images()[0],
            "--out",
            ws.out / "p.csv",
        ],
        "f.ckpt: not a medclass checkpoint (no 'medclass' entry)",
    ),
    Case(
        "ckpt-truncated",
        lambda ws: [
            "predict",
            _truncate(ws.run / "checkpoints" / "best.ckpt"),
            ws.images()[0],
            "--out",
            ws.out / "p.csv",
        ],
        "best.ckpt: not a readable checkpoint",
    ),
    Case(
        "ckpt-random-bytes",
        lambda ws: [
            "evaluate",
            _replace_ckpt(ws.run, "r.ckpt", os.urandom(3000)),
            "--data",
            ws.data,
            "--out",
            ws.out / "m.json",
        ],
        "r.ckpt: not a readable checkpoint",
    ),
    Case(
        "ckpt-wrong-weights",
        lambda ws: [
            "predict",
            _replace_ckpt(ws.run, "w.ckpt", _bad_weights(ws)),
            ws.images()[0],
            "--out",
            ws.out / "p.csv",
        ],
        "w.ckpt: the checkpoint's model cannot be rebuilt",
    ),
    Case(
        "resume-truncated-last",
        lambda ws: [
            "train",
            "--config",
            ws.config,
            "--data",
            ws.data,
            "--out",
            _truncate_last(ws),
            "--resume",
        ],
        "last.ckpt: not a readable checkpoint",
    ),
    Case(
        "resume-last-not-resumable",
        lambda ws: [
            "train",
            "--config",
            ws.config,
            "--data",
            ws.data,
            "--out",
            _weights_only_last(ws),
            "--resume",
        ],
        "not a checkpoint a run can be resumed from (missing optimizer_states",
    ),
    Case(
        "resume-onecycle-more-epochs",
        lambda ws: [
            "train",
            "--config",
            ws.config,
            "--data",
            ws.data,
            "--out",
            _copy_run(ws),
            "--resume",
            "--epochs",
            "3",
            "--set",
            "scheduler.name=onecycle",
        ],
        "trained with trainer.epochs = 1 and a onecycle schedule",
    ),
    Case(
        "resume-nothing", lambda ws: [*ws.train("--data", ws.data), "--resume"], "not a run folder to resume"
    ),
    Case(
        "evaluate-epoch-not-kept",
        lambda ws: ["evaluate", ws.run, "--epoch", "7", "--out", ws.out / "m.json"],
        "epoch=07.ckpt: not found",
    ),
    Case(
        "predict-fifo-given-directly",
        lambda ws: ["predict", ws.run, _fifo(ws.root / "in" / "x.png"), "--out", ws.out / "p.csv"],
        lambda ws: f"{ws.root / 'in' / 'x.png'}: is a named pipe (FIFO)",
        child=True,
    ),
    Case(
        "predict-device-given-directly",
        lambda ws: ["predict", ws.run, _link(ws.root / "dev.png", "/dev/zero"), "--out", ws.out / "p.csv"],
        "dev.png: is a device file",
        child=True,
    ),
    Case(
        "predict-broken-link-given-directly",
        lambda ws: [
            "predict",
            ws.run,
            _link(ws.root / "b.png", ws.root / "gone.png"),
            "--out",
            ws.out / "p.csv",
        ],
        "b.png: broken symbolic link",
    ),
]


def _link(path: Path, target: str | Path) -> Path:
    path.symlink_to(target)
    return path


def _without(ws: Workspace, key: str) -> dict:
    checkpoint = torch.load(ws.run / "checkpoints" / "best.ckpt", weights_only=False)
    del checkpoint[key]
    return checkpoint


def _bad_weights(ws: Workspace) -> dict:
    checkpoint = torch.load(ws.run / "checkpoints" / "best.ckpt", weights_only=False)
    checkpoint["state_dict"] = {k: v.flatten()[:1] for k, v in checkpoint["state_dict"].items()}
    return checkpoint


def _copy_run(ws: Workspace) -> Path:
    return Path(shutil.copytree(ws.run, ws.out))


def _truncate_last(ws: Workspace) -> Path:
    _truncate(_copy_run(ws) / "checkpoints" / "last.ckpt")
    return ws.out


def _weights_only_last(ws: Workspace) -> Path:
    out = _copy_run(ws)
    checkpoint = torch.load(out / "checkpoints" / "last.ckpt", weights_only=False)
    torch.save(
        {"state_dict": checkpoint["state_dict"], "medclass": checkpoint["medclass"]},
        out / "checkpoints" / "last.ckpt",
    )
    return out


# --- run folder (medclass.runs guards every output folder and file) ---------------------------------------
RUN_FOLDER_CASES = [
    Case(
        "out-inside-the-data-folder",
        lambda ws: ["train", "--config", ws.config, "--data", ws.data, "--out", ws.data / "run"],
        lambda ws: str(ws.data),
    ),
    Case(
        "out-is-a-user-folder",
        lambda ws: ["train", "--config", ws.config, "--data", ws.data, "--out", _user_folder(ws)],
        lambda ws: str(ws.root / "mine"),
    ),
    Case(
        "overwrite-a-user-folder",
        lambda ws: [
            "train",
            "--config",
            ws.config,
            "--data",
            ws.data,
            "--out",
            _user_folder(ws),
            "--overwrite",
        ],
        lambda ws: str(ws.root / "mine"),
    ),
    Case(
        "out-is-an-existing-file",
        lambda ws: ["train", "--config", ws.config, "--data", ws.data, "--out", _user_file(ws, "notes.txt")],
        lambda ws: str(ws.root / "notes.txt"),
    ),
    Case(
        "split-out-replaces-a-user-file",
        lambda ws: ["split", ws.data, "--out", _user_file(ws, "splits.csv")],
        lambda ws: str(ws.root / "splits.csv"),
    ),
    Case(
        "predict-out-is-a-folder",
        lambda ws: ["predict", ws.run, ws.images()[0], "--out", _user_folder(ws)],
        lambda ws: str(ws.root / "mine"),
    ),
    Case(
        "evaluate-out-replaces-a-user-file",
        lambda ws: ["evaluate", ws.run, "--out", _user_file(ws, "metrics.json")],
        lambda ws: str(ws.root / "metrics.json"),
    ),
    Case(
        "train-into-a-finished-run",
        lambda ws: ["train", "--config", ws.config, "--data", ws.data, "--out", ws.run],
        lambda ws: str(ws.run),
    ),
]


def _user_folder(ws: Workspace) -> Path:
    folder = ws.root / "mine"
    folder.mkdir(exist_ok=True)
    (folder / "thesis.tex").write_text("months of work\n")
    return folder


def _user_file(ws: Workspace, name: str) -> Path:
    path = ws.root / name
    path.write_text("a file medclass did not write\n")
    return path


CASES = [*DATA_CASES, *CONFIG_CASES, *CHECKPOINT_CASES, *RUN_FOLDER_CASES]


def test_the_matrix_is_large_enough() -> None:
    assert len(CASES) + len(SIGNAL_CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.fixture
def workspace(tiny_data: Path, fast_yaml: Path, finished_run: Path, tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    root.mkdir()
    return Workspace(
        root=root,
        data=Path(shutil.copytree(tiny_data, root / "data")),
        config=Path(shutil.copy(fast_yaml, root / "fast.yaml")),
        run=Path(shutil.copytree(finished_run, root / "run")),
    )


def _check(result: Result, case: Case, ws: Workspace) -> None:
    expected = case.expect(ws) if callable(case.expect) else case.expect
    assert result.code == case.code, f"exit {result.code}, expected {case.code}\n{result.out}\n{result.err}"
    assert expected in result.text, f"{expected!r} not in the output:\n{result.out}\n{result.err}"
    assert "Traceback" not in result.err + result.out


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, workspace: Workspace, cli) -> None:
    argv = case.build(workspace)
    before = snapshot(workspace.root, skip=(workspace.out,))
    result = run_cli_process(*argv, timeout=120) if case.child else cli(*argv)
    _check(result, case, workspace)
    assert snapshot(workspace.root, skip=(workspace.out,)) == before, "a file outside the run folder changed"


# --- signals ---------------------------------------------------------------------------------------------
SIGNAL_CASES = ["sigint-during-training", "sigterm-during-training"]


@pytest.mark.slow
@pytest.mark.parametrize("name", SIGNAL_CASES)
def test_signal_during_training_then_resume(name: str, workspace: Workspace) -> None:
    ws = workspace
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    before = snapshot(ws.root, skip=(ws.out,))
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from medclass.cli.app import main; main()",
            *map(str, ws.train("--data", ws.data)),
            "--epochs",
            "40",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    end = time.monotonic() + 120
    while not (ws.out / "checkpoints" / "last.ckpt").exists():
        assert time.monotonic() < end and child.poll() is None, "training never saved a checkpoint"
        time.sleep(0.05)
    child.send_signal(signal.SIGINT if name.startswith("sigint") else signal.SIGTERM)
    out, err = child.communicate(timeout=60)
    assert child.returncode != 0  # never "finished": the run is not
    assert "Traceback" not in out + err
    if name.startswith("sigterm"):
        assert child.returncode == 128 + signal.SIGTERM and f"resume with --resume --out {ws.out}" in err
    assert snapshot(ws.root, skip=(ws.out,)) == before
    rows = len(pd.read_csv(ws.out / "metrics.csv"))
    result = run_cli_process(*ws.train("--data", ws.data), "--resume", "--epochs", str(rows + 1), timeout=180)
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
