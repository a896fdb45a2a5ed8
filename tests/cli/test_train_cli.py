"""`medclass train` and `medclass demo` from the command line: flags, YAML and --set resolve to one config."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from medclass.cli.app import run_app

FAST_FLAGS = [
    "--model", "cnn", "--image-size", "32", "--epochs", "1", "--batch-size", "16",
    "--set", "model.cnn.blocks=[{out_channels: 4}, {out_channels: 8}]",
    "--set", "trainer.progress_bar=false", "--set", "evaluation.bootstrap=20",
]  # fmt: skip


def test_flags_yaml_and_set_end_up_in_the_resolved_config(phantom_data: Path, tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump({"optim": {"name": "sgd", "lr": 0.5}, "split": {"test_frac": 0.2}}))
    out = tmp_path / "run"
    code = run_app(
        ["train", "--config", str(base), "--data", str(phantom_data), "--out", str(out), "--lr", "0.01",
         "--val-frac", "0.25", "--seed", "11", *FAST_FLAGS]
    )  # fmt: skip
    assert code == 0
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["optim"] == {**resolved["optim"], "name": "sgd", "lr": 0.01}
    assert resolved["split"]["val_frac"] == 0.25 and resolved["split"]["test_frac"] == 0.2
    assert resolved["seed"] == 11 and resolved["data"]["image_size"] == 32
    assert (out / "test_metrics.json").is_file()
    # Same folder again: refused (exit 2) unless --overwrite.
    assert run_app(["train", "--data", str(phantom_data), "--out", str(out), *FAST_FLAGS]) == 2
    assert run_app(["train", "--data", str(phantom_data), "--out", str(out), "--overwrite", *FAST_FLAGS]) == 0


def test_bad_values_exit_2_with_the_key_named(
    phantom_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_app(
        ["train", "--data", str(phantom_data), "--out", str(tmp_path / "r"), "--set", "optim.name=lamb"]
    )
    assert code == 2
    assert "optim.name = 'lamb'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_resume_needs_an_existing_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_app(["train", "--resume"]) == 2
    assert "--resume needs --out" in capsys.readouterr().err
    assert run_app(["train", "--resume", "--out", str(tmp_path)]) == 2
    assert "not a run folder to resume" in capsys.readouterr().err


def test_missing_data_folder_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_app(["train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")]) == 2
    assert "nowhere" in capsys.readouterr().err
