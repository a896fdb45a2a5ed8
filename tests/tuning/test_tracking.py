"""Tracking: a real MLflow file store and TensorBoard event files hold the per-epoch metrics of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from medclass.api.train import train
from medclass.config import Config, build_config
from medclass.training.tracking import build_loggers, flatten_config
from medclass.utils.errors import ConfigError
from medclass.utils.io import read_json

EPOCHS = 2


def _train_with_tracking(tree: dict[str, Any], run_dir: Path) -> Config:
    """Train through the API as a user does; ``tracking`` in ``tree`` turns the loggers on."""
    config = build_config(
        tree, values={"trainer.epochs": EPOCHS, "out": str(run_dir), "evaluation.report": False}
    )
    train(config)
    return config


def test_an_mlflow_run_holds_per_epoch_metrics_params_and_artifacts(
    tiny_tree: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)  # the default store is ./mlruns of the working directory
    tiny_tree["tracking"] = "mlflow"
    run_dir = tmp_path / "run"
    _train_with_tracking(tiny_tree, run_dir)

    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("medclass")
    (run,) = client.search_runs([experiment.experiment_id])
    for name in ("val_loss", "val_accuracy", "train_loss"):
        history = client.get_metric_history(run.info.run_id, name)
        assert len(history) == EPOCHS, name
    assert run.data.params["optim.lr"] == "0.003"
    assert run.data.params["model.cnn.blocks.1.out_channels"] == "8"
    test = read_json(run_dir / "test_metrics.json")
    assert run.data.metrics["test_accuracy"] == pytest.approx(test["accuracy"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "metrics.csv", "test_metrics.json", "checkpoints"} <= artifacts
    assert [a.path for a in client.list_artifacts(run.info.run_id, "checkpoints")] == [
        "checkpoints/best.ckpt"
    ]
    assert run.info.status == "FINISHED" and run.data.tags["medclass.run_dir"] == str(run_dir.resolve())


def test_tensorboard_event_files_hold_per_epoch_metrics(tiny_tree: dict[str, Any], tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tiny_tree["tracking"] = "tensorboard"
    run_dir = tmp_path / "run"
    _train_with_tracking(tiny_tree, run_dir)
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    assert len(events.Scalars("val_loss")) == EPOCHS and len(events.Scalars("train_accuracy")) == EPOCHS


def test_a_refused_file_store_is_a_clear_config_error(
    tiny_tree: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import environment_variables

    if not hasattr(environment_variables, "MLFLOW_ALLOW_FILE_STORE"):
        pytest.skip("this MLflow still accepts its file store")
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    tiny_tree.update(tracking="mlflow", tracking_uri=(tmp_path / "mlruns").as_uri())
    with pytest.raises(ConfigError, match="MLFLOW_ALLOW_FILE_STORE"):
        build_loggers(build_config(tiny_tree), tmp_path / "run")


def test_tracking_is_off_by_default(tiny_tree: dict[str, Any], tmp_path: Path) -> None:
    assert build_loggers(build_config(tiny_tree), tmp_path) == []


def test_flatten_config_makes_short_dotted_params() -> None:
    flat = flatten_config(
        {"optim": {"lr": 0.1}, "model": {"cnn": {"blocks": [{"k": 3}, {"k": 5}], "dense": [8, 4]}}}
    )
    assert flat == {
        "optim.lr": 0.1,
        "model.cnn.blocks.0.k": 3,
        "model.cnn.blocks.1.k": 5,
        "model.cnn.dense": [8, 4],
    }
