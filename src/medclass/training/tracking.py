"""Experiment tracking: MLflow and TensorBoard loggers for a run, and its parameters and files once it is done.

Off by default (``tracking: none``). ``tracking: mlflow`` logs to ``tracking_uri`` (default: a local store in
``./mlruns`` of the working directory, see :func:`mlflow_uri`; a server URL such as ``http://mlflow:5000`` works
the same), into the experiment named by ``$MLFLOW_EXPERIMENT_NAME`` (default ``medclass``). ``tracking: tensorboard`` writes
event files to ``<run_dir>/tensorboard`` (``tensorboard --logdir runs``).

Per-epoch metrics reach the loggers through Lightning (everything the LightningModule logs per epoch);
:func:`log_run_artifacts` adds the flattened config as parameters, the test metrics, and the files of the run
folder (plots, report, test metrics, best checkpoint) once training and evaluation are done.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from lightning.pytorch.loggers import Logger, MLFlowLogger, TensorBoardLogger
from PIL import Image

from medclass.config.loader import read_yaml
from medclass.config.schema import Config
from medclass.runs import (
    CONFIG_FILE,
    METRICS_FILE,
    PLOTS_DIR,
    REPORT_FILE,
    SUMMARY_FILE,
    TENSORBOARD_DIR,
    TEST_METRICS_FILE,
    TEST_PREDICTIONS_FILE,
    RunLayout,
)
from medclass.runs.layout import BEST_CHECKPOINT, CHECKPOINT_SUFFIX, CHECKPOINTS_DIR
from medclass.utils.errors import ConfigError
from medclass.utils.extras import require_extra
from medclass.utils.io import read_json

DEFAULT_MLFLOW_DIR = "mlruns"
MLFLOW_DB = "mlflow.db"
DEFAULT_EXPERIMENT = "medclass"
EXPERIMENT_ENV = "MLFLOW_EXPERIMENT_NAME"
# Files of a run folder sent to MLflow as artifacts (when present), and their artifact sub-folders.
RUN_ARTIFACTS: tuple[tuple[str, str | None], ...] = (
    (CONFIG_FILE, None),
    (METRICS_FILE, None),
    (TEST_METRICS_FILE, None),
    (TEST_PREDICTIONS_FILE, None),
    (REPORT_FILE, None),
    (SUMMARY_FILE, None),
    (PLOTS_DIR, PLOTS_DIR),
    (f"{CHECKPOINTS_DIR}/{BEST_CHECKPOINT}{CHECKPOINT_SUFFIX}", CHECKPOINTS_DIR),
)
# Headline test metrics logged as test_<name>.
TEST_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "auroc")


def mlflow_uri(config: Config) -> str:
    """``config.tracking_uri``, else the local store: ``sqlite:///<cwd>/mlruns/mlflow.db``.

    The default is a SQLite file inside ``./mlruns`` rather than MLflow's plain-file store, because MLflow 3
    refuses the file store unless ``MLFLOW_ALLOW_FILE_STORE=true`` ("maintenance mode"); SQLite is the local
    backend MLflow recommends. View it with ``mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db``.

    Raises:
        ConfigError: a file-store URI that the installed MLflow refuses (the message says what to do).
    """
    if config.tracking_uri:
        _check_file_store(config.tracking_uri)
        return config.tracking_uri
    folder = Path(DEFAULT_MLFLOW_DIR).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / MLFLOW_DB}"


def _artifact_location(config: Config) -> str | None:
    """Artifacts of the default local store go to ``./mlruns/artifacts``; a given URI decides for itself."""
    return None if config.tracking_uri else (Path(DEFAULT_MLFLOW_DIR) / "artifacts").resolve().as_uri()


def _check_file_store(uri: str) -> None:
    if "://" in uri and not uri.startswith("file:"):
        return
    from mlflow import environment_variables

    allow = getattr(environment_variables, "MLFLOW_ALLOW_FILE_STORE", None)
    if allow is not None and not allow.get():
        raise ConfigError(
            f"tracking_uri = {uri!r}: this MLflow refuses its file store unless MLFLOW_ALLOW_FILE_STORE=true is "
            f"set; use a database such as sqlite:///mlruns/{MLFLOW_DB} (the default when tracking_uri is unset) "
            "or a tracking server URL"
        )


def experiment_name() -> str:
    """``$MLFLOW_EXPERIMENT_NAME`` or ``medclass``."""
    return os.environ.get(EXPERIMENT_ENV) or DEFAULT_EXPERIMENT


def _run_name(run_dir: Path) -> str:
    """The run folder as given (relative paths stay relative: ``runs/sweep/trials/trial-0003/fold-1``)."""
    return str(run_dir)


def build_loggers(config: Config, run_dir: str | Path) -> list[Logger]:
    """The Lightning loggers that ``config.tracking`` asks for (empty list for ``none``).

    Args:
        config: the run config (``tracking``, ``tracking_uri``).
        run_dir: the run folder (TensorBoard files go to ``run_dir/tensorboard``; the MLflow run is named after
            it and tagged with its absolute path).

    Returns:
        ``[]``, ``[MLFlowLogger]`` or ``[TensorBoardLogger]``, ready for ``fit(..., loggers=...)``.
    """
    run_dir = Path(run_dir)
    if config.tracking != "none":
        needs = ("mlflow", "sqlalchemy", "alembic") if config.tracking == "mlflow" else ("tensorboard",)
        require_extra("track", f"tracking: {config.tracking}", needs)
    if config.tracking == "mlflow":
        return [
            MLFlowLogger(
                experiment_name=experiment_name(),
                run_name=_run_name(run_dir),
                tracking_uri=mlflow_uri(config),
                artifact_location=_artifact_location(config),
                tags={"medclass.run_dir": str(run_dir.resolve())},
            )
        ]
    if config.tracking == "tensorboard":
        return [
            TensorBoardLogger(save_dir=run_dir, name=TENSORBOARD_DIR, version="", default_hp_metric=False)
        ]
    return []


def flatten_config(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"optim.lr": 0.001, "model.cnn.blocks.0.out_channels": 16, ...}``: nested dicts and lists of dicts
    become dotted keys, so every value is short enough to be a tracked parameter."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_config(value, f"{name}."))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for i, item in enumerate(value):
                flat.update(flatten_config(item, f"{name}.{i}."))
        else:
            flat[name] = value
    return flat


def headline_test_metrics(test_metrics: Mapping[str, Any] | None) -> dict[str, float]:
    """``{"test_accuracy": ..., ...}`` of the headline test metrics that have a value."""
    if not test_metrics:
        return {}
    return {
        f"test_{name}": float(test_metrics[name])
        for name in TEST_METRICS
        if isinstance(test_metrics.get(name), int | float)
    }


def log_run_artifacts(loggers: Sequence[Logger], run_dir: str | Path) -> None:
    """Send a finished run's parameters, test metrics and files to each logger.

    Reads the run folder: ``config.yaml`` (flattened into parameters), ``test_metrics.json`` (``test_*``
    metrics), and for MLflow the files of :data:`RUN_ARTIFACTS` that exist; TensorBoard gets the parameters
    with the test metrics (its HParams tab) and the PNGs of ``plots/`` as images.
    """
    run_dir = Path(run_dir)
    config_file = run_dir / CONFIG_FILE
    params = flatten_config(read_yaml(config_file)) if config_file.is_file() else {}
    test_file = run_dir / TEST_METRICS_FILE
    metrics = headline_test_metrics(read_json(test_file) if test_file.is_file() else None)
    for logger in loggers:
        if isinstance(logger, MLFlowLogger):
            _log_mlflow(logger, params, metrics, _existing(run_dir, RUN_ARTIFACTS))
        elif isinstance(logger, TensorBoardLogger):
            _log_tensorboard(logger, params, metrics, sorted(RunLayout(run_dir).plots.glob("*.png")))


def log_summary(
    config: Config,
    out_dir: str | Path,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    files: Iterable[str | Path],
) -> None:
    """Log a campaign (a tuning study, a comparison) as one run of its own: its settings, headline numbers and
    result files (tables, plots, best.yaml). Does nothing when ``config.tracking`` is ``none``.

    Args:
        config: supplies ``tracking`` and ``tracking_uri``.
        out_dir: the campaign's output folder (names the run; TensorBoard files go below it).
        params: settings to record (flattened if nested).
        metrics: e.g. the best objective value.
        files: files or folders to attach (MLflow) or PNGs to show (TensorBoard).
    """
    loggers = build_loggers(config, out_dir)
    paths = [Path(f) for f in files if Path(f).exists()]
    flat = flatten_config(params)
    finite = {k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)}
    for logger in loggers:
        if isinstance(logger, MLFlowLogger):
            _log_mlflow(logger, flat, finite, [(p, None) for p in paths])
        elif isinstance(logger, TensorBoardLogger):
            _log_tensorboard(logger, flat, finite, [p for p in paths if p.suffix == ".png"])
        logger.finalize("success")


def _existing(run_dir: Path, names: Iterable[tuple[str, str | None]]) -> list[tuple[Path, str | None]]:
    return [(run_dir / name, folder) for name, folder in names if (run_dir / name).exists()]


def _log_mlflow(
    logger: MLFlowLogger,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    files: Sequence[tuple[Path, str | None]],
) -> None:
    if params:
        logger.log_hyperparams(dict(params))
    if metrics:
        logger.log_metrics(dict(metrics))
    client, run_id = logger.experiment, logger.run_id
    for path, folder in files:
        if path.is_dir():
            client.log_artifacts(run_id, str(path), artifact_path=folder or path.name)
        else:
            client.log_artifact(run_id, str(path), artifact_path=folder)


def _log_tensorboard(
    logger: TensorBoardLogger, params: Mapping[str, Any], metrics: Mapping[str, float], images: Sequence[Path]
) -> None:
    logger.log_hyperparams({k: _scalar(v) for k, v in params.items()}, metrics=dict(metrics) or None)
    for png in images:
        with Image.open(png) as image:
            pixels = np.asarray(image.convert("RGB"))
        logger.experiment.add_image(f"plots/{png.stem}", pixels, dataformats="HWC")
    logger.experiment.flush()


def _scalar(value: Any) -> Any:
    """TensorBoard hparams take numbers, strings and booleans only."""
    return value if isinstance(value, int | float | str | bool) else str(value)
