"""Loading the saved files of a run folder: what the report, the plots and summary.md are built from.

Only ``config.yaml`` is required; every other file is optional (an interrupted run has no test metrics, an
older run no ``model_profile.json``) and is ``None`` when absent, so the report shows what exists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medclass.config import read_yaml
from medclass.utils.errors import ConfigError, RunDirError

PLOTS_DIR = "plots"


@dataclass
class RunFiles:
    """The saved artifacts of one run folder (``None`` for each file that is absent)."""

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

    @property
    def name(self) -> str:
        """The run's name: ``config.name`` or the folder name."""
        return str(self.config.get("name") or self.run_dir.resolve().name)

    @property
    def plots_dir(self) -> Path:
        return self.run_dir / PLOTS_DIR

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
        """The epoch of the best checkpoint: recorded in test_metrics.json, else the best ``monitor`` value of
        metrics.csv (the first one among equals, as Lightning keeps a checkpoint only on strict improvement)."""
        if self.test_metrics and self.test_metrics.get("best_epoch") is not None:
            return int(self.test_metrics["best_epoch"])
        if self.metrics is None or self.monitor not in self.metrics.columns:
            return None
        values = pd.to_numeric(self.metrics[self.monitor], errors="coerce")
        if values.isna().all():
            return None
        index = values.idxmin() if self.monitor.endswith("loss") else values.idxmax()
        return int(self.metrics.loc[index, "epoch"])

    def plot(self, name: str) -> Path | None:
        """``plots/<name>.png`` when it exists."""
        path = self.plots_dir / f"{name}.png"
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
        path = self.run_dir / "predictions_test.csv"
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
    config_path = run_dir / "config.yaml"
    if not config_path.is_file():
        raise RunDirError(f"{run_dir}: not a medclass run folder (no config.yaml)")
    try:
        config = read_yaml(config_path)
    except ConfigError as exc:
        raise RunDirError(str(exc)) from None
    return RunFiles(
        run_dir=run_dir,
        config=config,
        data_report=_json(run_dir / "data_report.json"),
        splits=_csv(run_dir / "splits.csv"),
        metrics=_csv(run_dir / "metrics.csv"),
        test_metrics=_json(run_dir / "test_metrics.json"),
        predictions=_csv(run_dir / "predictions_test.csv"),
        epoch_metrics=_csv(run_dir / "epoch_metrics.csv"),
        referral=_csv(run_dir / "referral.csv"),
        model_profile=_json(run_dir / "model_profile.json"),
        artifacts_info=_json(run_dir / PLOTS_DIR / "model_artifacts.json"),
    )
