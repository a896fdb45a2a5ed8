"""Reading a run folder back: the one loader of evaluate, report, compare and tune, the best-epoch rule, and
the run's splits with its cross-validation fold resolved.

Only ``config.yaml`` is required; every other file is optional (an interrupted run has no test metrics, an
older run no ``model_profile.json``) and is ``None`` when absent, so each reader uses what exists and
:meth:`RunFiles.require` names what a command needs but is missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medclass.config import read_yaml
from medclass.runs.layout import (
    ARTIFACTS_INFO_FILE,
    CONFIG_FILE,
    DATA_REPORT_FILE,
    EPOCH_METRICS_FILE,
    EXPLANATIONS_DIR,
    EXPLANATIONS_INDEX_FILE,
    METRICS_FILE,
    MODEL_PROFILE_FILE,
    REFERRAL_FILE,
    SPLITS_FILE,
    TEST_METRICS_FILE,
    TEST_PREDICTIONS_FILE,
    RunLayout,
)
from medclass.utils.errors import ConfigError, RunDirError

MONITOR_MODES = {"val_loss": "min"}  # every other monitor (accuracy, F1, AUROC) is maximised


def monitor_mode(monitor: str) -> str:
    """``min`` for losses, ``max`` for scores."""
    return MONITOR_MODES.get(monitor, "max")


def best_epoch_of(metrics: pd.DataFrame | None, monitor: str) -> int | None:
    """The 1-based epoch with the best ``monitor`` value in a metrics.csv table (the first one among equals,
    as the checkpoint callback keeps a checkpoint only on strict improvement); None when unknown."""
    if metrics is None or monitor not in metrics.columns:
        return None
    values = pd.to_numeric(metrics[monitor], errors="coerce")
    if values.isna().all():
        return None
    index = values.idxmin() if monitor_mode(monitor) == "min" else values.idxmax()
    return int(metrics.loc[index, "epoch"])


def training_view(table: pd.DataFrame, fold: int) -> pd.DataFrame:
    """Rows of fold ``fold`` become validation, the other folds training; tables without folds pass through."""
    if "fold" not in table.columns or table["fold"].isna().all():
        return table
    view = table.copy()
    in_folds = view["split"].isin(["train", "val"]) & view["fold"].notna()
    view.loc[in_folds, "split"] = "train"
    view.loc[in_folds & (view["fold"].astype("Int64") == fold), "split"] = "val"
    return view


@dataclass
class RunFiles:
    """The saved files of one run folder (``None`` for each file that is absent)."""

    run_dir: Path
    config: dict[str, Any]
    data_report: dict[str, Any] | None = None
    splits: pd.DataFrame | None = None
    metrics: pd.DataFrame | None = None
    test_metrics: dict[str, Any] | None = None
    predictions: pd.DataFrame | None = None
    epoch_metrics: pd.DataFrame | None = None
    referral: pd.DataFrame | None = None
    model_profile: dict[str, Any] | None = None
    artifacts_info: dict[str, Any] | None = None
    explanations: dict[str, pd.DataFrame] | None = None

    @property
    def layout(self) -> RunLayout:
        return RunLayout(self.run_dir)

    @property
    def name(self) -> str:
        """The run's name: ``config.name`` or the folder name."""
        return str(self.config.get("name") or self.run_dir.resolve().name)

    @property
    def plots_dir(self) -> Path:
        return self.layout.plots

    @property
    def seed(self) -> int | None:
        return self.config.get("seed")

    @property
    def classes(self) -> list[str]:
        """Class names from the test metrics, else the data report, else the prediction columns."""
        if self.test_metrics and self.test_metrics.get("classes"):
            return [str(c) for c in self.test_metrics["classes"]]
        if self.data_report and self.data_report.get("classes"):
            return [str(c) for c in self.data_report["classes"]]
        if self.predictions is not None:
            return [c[2:] for c in self.predictions.columns if c.startswith("p_")]
        return []

    @property
    def monitor(self) -> str:
        return str(self.config.get("trainer", {}).get("monitor", "val_loss"))

    @property
    def best_epoch(self) -> int | None:
        """The epoch of the best checkpoint: recorded in test_metrics.json, else by :func:`best_epoch_of`."""
        if self.test_metrics and isinstance(self.test_metrics.get("best_epoch"), int):
            return int(self.test_metrics["best_epoch"])
        return best_epoch_of(self.metrics, self.monitor)

    def require(self, *names: str, purpose: str) -> None:
        """Raise when any of the named files (``metrics.csv``, ...) is absent.

        Raises:
            RunDirError: naming the missing files and ``purpose``.
        """
        missing = [name for name in names if not (self.run_dir / name).is_file()]
        if missing:
            raise RunDirError(f"{self.run_dir}: missing {', '.join(missing)}; {purpose}")

    def plot(self, name: str) -> Path | None:
        """``plots/<name>.png`` when it exists."""
        path = self.layout.plot(name)
        return path if path.is_file() else None

    def test_scores(self) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
        """``(y_true, probs, classes)`` of the test split from predictions_test.csv (None when unavailable).

        Raises:
            RunDirError: the file lacks a ``label`` or ``p_<class>`` column, or holds unknown labels.
        """
        table = self.predictions
        if table is None or table.empty:
            return None
        classes = self.classes
        path = self.run_dir / TEST_PREDICTIONS_FILE
        columns = [f"p_{c}" for c in classes]
        missing = [c for c in ["label", *columns] if c not in table.columns]
        if missing:
            raise RunDirError(f"{path}: missing column(s) {missing}; expected label and p_<class> per class")
        index = {c: i for i, c in enumerate(classes)}
        unknown = sorted(set(table["label"].astype(str)) - set(index))
        if unknown:
            raise RunDirError(f"{path}: labels {unknown} are not among the classes {classes}")
        y_true = table["label"].astype(str).map(index).to_numpy(dtype=np.int64)
        probs = table[columns].to_numpy(dtype=float)
        return y_true, np.clip(probs, 0.0, 1.0), classes


def _json(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RunDirError(f"{path}: not valid JSON ({exc})") from None


def _csv(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path}: not a readable CSV table ({exc})") from None


def load_run(run_dir: str | Path) -> RunFiles:
    """Read every known file of a run folder.

    Raises:
        RunDirError: ``run_dir`` is not a folder with ``config.yaml``, or a file is malformed (named).
    """
    run_dir = Path(run_dir)
    config_path = run_dir / CONFIG_FILE
    if not config_path.is_file():
        raise RunDirError(f"{run_dir}: not a medclass run folder (no {CONFIG_FILE})")
    try:
        config = read_yaml(config_path)
    except ConfigError as exc:
        raise RunDirError(str(exc)) from None
    return RunFiles(
        run_dir=run_dir,
        config=config,
        data_report=_json(run_dir / DATA_REPORT_FILE),
        splits=_csv(run_dir / SPLITS_FILE),
        metrics=_csv(run_dir / METRICS_FILE),
        test_metrics=_json(run_dir / TEST_METRICS_FILE),
        predictions=_csv(run_dir / TEST_PREDICTIONS_FILE),
        epoch_metrics=_csv(run_dir / EPOCH_METRICS_FILE),
        referral=_csv(run_dir / REFERRAL_FILE),
        model_profile=_json(run_dir / MODEL_PROFILE_FILE),
        artifacts_info=_json(RunLayout(run_dir).plots / ARTIFACTS_INFO_FILE),
        explanations=_explanations(run_dir / EXPLANATIONS_DIR),
    )


def _explanations(folder: Path) -> dict[str, pd.DataFrame] | None:
    """The index table of each ``explanations/<method>/`` folder that ``medclass explain`` wrote into the run."""
    if not folder.is_dir():
        return None
    found = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        table = _csv(sub / EXPLANATIONS_INDEX_FILE)
        if table is not None:
            found[sub.name] = table
    return found or None
