"""End to end: a run folder with everything in it, refusal to overwrite, determinism and resume."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import pandas as pd
import pytest
import yaml

from medclass.api import train
from medclass.training.callbacks import METRIC_COLUMNS
from medclass.utils.errors import RunDirError


def test_run_folder_holds_every_artifact(trained_run: Path) -> None:
    for name in ("config.yaml", "splits.csv", "data_report.json", "metrics.csv", "test_metrics.json"):
        assert (trained_run / name).is_file(), name
    assert (trained_run / "checkpoints" / "best.ckpt").is_file()
    assert sorted(p.name for p in (trained_run / "checkpoints").glob("epoch=*.ckpt")) == [
        "epoch=01.ckpt",
        "epoch=02.ckpt",
        "epoch=03.ckpt",
    ]
    metrics = pd.read_csv(trained_run / "metrics.csv")
    assert tuple(metrics.columns) == METRIC_COLUMNS
    assert metrics["epoch"].tolist() == [1, 2, 3]
    assert metrics[["train_loss", "val_loss", "val_accuracy", "lr"]].notna().all().all()
    resolved = yaml.safe_load((trained_run / "config.yaml").read_text())
    assert resolved["augment"]["hflip"] == 0.5  # the preset's values are written out
    test = json.loads((trained_run / "test_metrics.json").read_text())
    assert test["n"] == 20 and test["classes"] == ["no_tumor", "tumor"]
    assert set(test["per_class"]["tumor"]) >= {
        "sensitivity",
        "specificity",
        "precision",
        "recall",
        "f1",
        "support",
    }
    assert 0 <= test["ci"]["accuracy"]["ci_low"] <= test["accuracy"] <= test["ci"]["accuracy"]["ci_high"] <= 1
    splits = pd.read_csv(trained_run / "splits.csv")
    assert splits["split"].value_counts().to_dict() == {"train": 40, "val": 20, "test": 20}


def test_existing_run_is_refused_without_overwrite(
    trained_run: Path, phantom_data: Path, fast_config
) -> None:
    with pytest.raises(RunDirError, match="--overwrite"):
        train(fast_config(phantom_data, trained_run))


def test_overwrite_refuses_a_folder_that_is_not_a_run(
    tmp_path: Path, phantom_data: Path, fast_config
) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(RunDirError, match="not a medclass run"):
        train(fast_config(phantom_data, precious), overwrite=True)
    assert (precious / "notes.txt").read_text() == "keep me"


def _without_time(path: Path) -> pd.DataFrame:
    return pd.read_csv(path / "metrics.csv").drop(columns=["seconds"])


def test_deterministic_runs_are_bit_identical(tmp_path: Path, phantom_data: Path, fast_config) -> None:
    first = train(fast_config(phantom_data, tmp_path / "a", ["deterministic=true", "trainer.epochs=2"]))
    second = train(fast_config(phantom_data, tmp_path / "b", ["deterministic=true", "trainer.epochs=2"]))
    pd.testing.assert_frame_equal(
        _without_time(first.run_dir), _without_time(second.run_dir), check_exact=True
    )
    assert first.test_metrics["accuracy"] == second.test_metrics["accuracy"]
    assert first.test_metrics["per_class"] == second.test_metrics["per_class"]


class _Crash(L.Callback):
    """Simulates a machine dying after the given epoch (1-based), once its checkpoint is written."""

    def __init__(self, after_epoch: int) -> None:
        self.after_epoch = after_epoch

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch + 1 == self.after_epoch:
            raise RuntimeError("simulated crash")


def test_resume_after_interruption_matches_an_uninterrupted_run(
    tmp_path: Path, phantom_data: Path, fast_config
) -> None:
    options = ["trainer.epochs=4"]
    whole = train(fast_config(phantom_data, tmp_path / "whole", options))
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(fast_config(phantom_data, tmp_path / "cut", options), callbacks=[_Crash(after_epoch=2)])
    assert (tmp_path / "cut" / "checkpoints" / "last.ckpt").exists()
    resumed = train(fast_config(phantom_data, tmp_path / "cut", options), resume=True)
    pd.testing.assert_frame_equal(
        _without_time(whole.run_dir).drop(columns=[]),
        _without_time(resumed.run_dir),
        check_exact=False,
        rtol=1e-5,
    )
    assert resumed.test_metrics["accuracy"] == pytest.approx(whole.test_metrics["accuracy"])


def test_resume_needs_a_checkpoint(tmp_path: Path, phantom_data: Path, fast_config) -> None:
    with pytest.raises(RunDirError, match="nothing to resume"):
        train(fast_config(phantom_data, tmp_path / "never"), resume=True)
