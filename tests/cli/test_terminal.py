"""What ``medclass train`` prints: plain lines without control codes off a terminal, epochs counted from 1, the
learning rate each epoch trained with; options and data checked before the run folder exists."""

from __future__ import annotations

import math
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from console_script import console_script, script_env

from medclass.cli.app import run_app
from medclass.config import build_config
from medclass.transforms.pipelines import describe_augment

# A 2-block CNN without any dropout layer (no dense layer): seconds to train, and MC dropout has nothing to use.
TINY = [
    "--model", "cnn", "--image-size", "32", "--epochs", "2", "--batch-size", "16", "--lr", "0.002",
    "--set", "model.cnn.blocks=[{out_channels: 4}, {out_channels: 8}]", "--set", "model.cnn.dense=[]",
    "--set", "evaluation.bootstrap=20", "--set", "evaluation.report=false",
]  # fmt: skip
EPOCH_LINE = re.compile(r"^epoch (\d+)/(\d+)  loss .* \| lr (\S+) \|", re.MULTILINE)


def _env() -> dict[str, str]:
    # A colour terminal type, no NO_COLOR: plain output must come from stdout not being a terminal alone.
    env = {**script_env(), "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    return env


@pytest.fixture(scope="module")
def piped_run(phantom_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``medclass train`` with its default progress setting, standard output and error into a pipe."""
    out = tmp_path_factory.mktemp("terminal") / "run"
    command = [*console_script(), "train", "--data", str(phantom_data), "--out", str(out), *TINY]
    done = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return out, done.stdout + done.stderr


def test_piped_output_is_plain_lines_with_epochs_from_1(piped_run: tuple[Path, str]) -> None:
    run, text = piped_run
    assert "\x1b" not in text and "\r" not in text  # no colours, cursor moves or redrawn bar frames
    assert "Epoch 0" not in text and "━" not in text  # no Lightning bar, no bar of ours
    epochs = [(int(k), int(n)) for k, n, _ in EPOCH_LINE.findall(text)]
    assert epochs == [(1, 2), (2, 2)]
    # Each step's progress as a plain line with its count; the run folder is named once the data passed.
    assert re.search(r"^  hashing 80/80 files in [\d.]+ s$", text, re.MULTILINE)
    assert text.index("hashing 80/80") < text.index(f"run folder: {run}") < text.index("epoch 1/2")
    assert len(text.strip().splitlines()) < 30  # no per-batch lines
    # The augmentation in force, not only the preset's name.
    assert (
        "augment standard preset: hflip p=0.5, rotation ±15°, shift ±5%, zoom 0.9-1.1, brightness ±0.1, "
        "contrast ±0.1\n" in text
    )


def test_augmentation_line_follows_the_overrides() -> None:
    config = build_config({}, ["augment.preset=light", "augment.vflip=0.3", "augment.rotation=0"])
    assert describe_augment(config.augment) == "light preset: hflip p=0.5, vflip p=0.3"
    assert (
        describe_augment(build_config({}, ["augment.preset=none"]).augment) == "none preset: no augmentation"
    )


def test_lr_is_the_rate_each_epoch_trained_with(piped_run: tuple[Path, str]) -> None:
    run, text = piped_run
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["scheduler"]["name"] == "cosine" and config["scheduler"]["warmup_epochs"] == 0
    base, floor = 0.002, config["scheduler"]["min_lr"]
    # Cosine over 2 epochs: epoch 1 trains at the base rate, epoch 2 half-way down (the step after epoch 2,
    # to the floor, is not a rate any epoch used).
    expected = [base, floor + (base - floor) * (1 + math.cos(math.pi / 2)) / 2]
    table = pd.read_csv(run / "metrics.csv")
    assert table["epoch"].tolist() == [1, 2]
    assert table["lr"].tolist() == pytest.approx(expected, rel=1e-4)
    printed = [float(lr) for _, _, lr in EPOCH_LINE.findall(text)]
    assert printed == pytest.approx(expected, rel=1e-2)


def test_mc_dropout_without_dropout_is_an_error_that_names_the_fix(
    piped_run: tuple[Path, str], phantom_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, _ = piped_run
    image = str(sorted((phantom_data / "tumor").glob("*.png"))[0])
    out = run.parent / "pred.csv"
    assert run_app(["predict", str(run), image, "--mc-dropout", "5", "--out", str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "no dropout layer" in err and "--set model.drop_rate=0.2" in err and "Traceback" not in err
    assert not out.exists()
    assert run_app(["evaluate", str(run), "--mc-dropout", "5", "--bootstrap", "0"]) == 2
    assert "--set model.drop_rate=0.2" in " ".join(capsys.readouterr().err.split())
    assert not (run / "evaluations").exists() and not (run / "referral.csv").exists()
    # Plain prediction of the same model still works.
    assert run_app(["predict", str(run), image, "--out", str(out)]) == 0


def test_bad_options_and_data_leave_no_run_folder(
    phantom_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert (
        run_app(["train", "--data", str(phantom_data), "--out", str(out), *TINY, "--model", "resnet81"]) == 2
    )
    assert "resnet18" in capsys.readouterr().err  # the did-you-mean suggestion
    assert not out.exists()
    # Too few images in a class: found by the data checks, before the folder is made.
    few = tmp_path / "few"
    for label, n in (("no_tumor", 12), ("tumor", 2)):
        (few / label).mkdir(parents=True)
        for image in sorted((phantom_data / label).glob("*.png"))[:n]:
            (few / label / image.name).write_bytes(image.read_bytes())
    assert run_app(["train", "--data", str(few), "--out", str(out), *TINY]) == 2
    assert "tumor" in capsys.readouterr().err
    assert not out.exists()
    # A foreign non-empty --out is refused before any file is scanned.
    foreign = tmp_path / "project"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert run_app(["train", "--data", str(phantom_data), "--out", str(foreign), *TINY]) == 2
    captured = capsys.readouterr()
    assert "not a medclass run folder" in " ".join(captured.err.split()) and "scanning" not in captured.out
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


@pytest.mark.skipif(sys.platform != "linux", reason="pseudo-terminal test written for Linux")
def test_terminal_shows_one_display_and_no_lightning_bar(phantom_data: Path, tmp_path: Path) -> None:
    """In a terminal (a pseudo-terminal here): medclass's display, epochs from 1, each summary line printed
    at the start of a line (cleared first), never glued after a bar frame."""
    out = tmp_path / "run"
    command = [*console_script(), "train", "--data", str(phantom_data), "--out", str(out), *TINY]
    leader, follower = pty.openpty()
    env = {**_env(), "COLUMNS": "160", "LINES": "40"}
    process = subprocess.Popen(command, stdin=follower, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert process.wait(timeout=600) == 0
    raw = b"".join(chunks).decode("utf-8", "replace")
    assert "Epoch 0" not in raw and "it/s" not in raw  # Lightning's bar is gone
    assert "epoch 1/2" in raw and "━" in raw  # our run row and its bar were drawn
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "\x00", raw)  # every control sequence as one marker
    for k in (1, 2):
        start = plain.index(f"epoch {k}/2  loss")
        assert plain[start - 1] in "\n\r\x00", repr(plain[start - 80 : start])  # a fresh, cleared line
    assert (out / "metrics.csv").is_file()
