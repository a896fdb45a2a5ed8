"""One tuning trial: the trial's config, K fold trainings (with :func:`medclass.api.train`), and the score.

The score of a trial is the mean over its folds of the best value the monitored validation metric
(``trainer.monitor``, e.g. ``val_loss``) reached in that fold's training: the value of the checkpoint that
training keeps. Per-fold results go into the trial's user attributes (``folds``), from which the trials table
takes per-fold, mean and std columns. A finished fold keeps its run folder with ``best.ckpt`` but not
``last.ckpt`` (see :func:`drop_resume_checkpoint`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from rich.console import Console

from medclass.campaigns.pruning import PruningCallback
from medclass.campaigns.search_space import SearchSpace, apply_values
from medclass.config import Config, build_config
from medclass.runs import METRICS_FILE, RunLayout, monitor_mode
from medclass.runs.campaign_layout import StudyLayout

FOLDS_ATTR = "folds"
ERROR_ATTR = "error"
# Validation columns of metrics.csv reported per fold (at the fold's best epoch).
VAL_COLUMNS = ("val_loss", "val_accuracy", "val_macro_f1", "val_auroc")


def trial_config(tree: Mapping[str, Any], run_dir: Path, fold: int | None, folds: int, source: str) -> Config:
    """The config of one fold's training.

    With ``fold`` set, the data are split in ``folds`` stratified, duplicate-aware folds (``split.strategy:
    kfold``; a test part is still held out first when ``split.test_frac > 0``) and fold ``fold`` validates.
    The HTML report is skipped and the test split gets no bootstrap: a trial is judged on validation only.
    """
    values: dict[str, Any] = {
        "out": str(run_dir),
        "evaluation.report": False,
        "evaluation.bootstrap": 0,
    }
    if fold is not None:
        values.update({"split.strategy": "kfold", "split.folds": folds, "split.fold": fold})
    return build_config(tree, values=values, source=source)


def final_config(
    base_tree: Mapping[str, Any], space: SearchSpace, params: Mapping[str, Any], source: str
) -> Config:
    """The full config of a trial's parameters on the base config, as ``medclass train`` would run it.

    ``out`` and ``name`` are cleared so that ``medclass train --config best.yaml`` makes a new run folder.
    """
    tree = apply_values(base_tree, space.values_of(params))
    tree.pop("out", None)
    tree.pop("name", None)
    return build_config(tree, source=source)


@dataclass
class FoldResult:
    """What one fold's training reached (``pruned``: it was stopped early by the pruner)."""

    fold: int
    best: float
    best_epoch: int
    epochs: int
    metrics: dict[str, float | None]
    run_dir: str
    pruned: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def drop_resume_checkpoint(run_dir: Path) -> None:
    """Delete a finished fold's ``checkpoints/last.ckpt``.

    It only serves to resume that training, which a finished or pruned trial never does, and it is as large as
    the model with its optimizer state (1.5 GB for VGG-11): a 48-trial sweep would otherwise keep tens of GB.
    The trained model, ``best.ckpt``, is kept.
    """
    RunLayout(run_dir).last_checkpoint.unlink(missing_ok=True)


def best_of(history: list[float], mode: str) -> tuple[float, int]:
    """Best value and its 1-based epoch; NaN epochs are ignored (a diverged epoch is never the best)."""
    values = np.asarray(history, dtype=float)
    if values.size == 0 or np.all(np.isnan(values)):
        return math.nan, 0
    index = int(np.nanargmin(values) if mode == "min" else np.nanargmax(values))
    return float(values[index]), index + 1


def metrics_at_epoch(metrics_csv: Path, epoch: int) -> dict[str, float | None]:
    """The validation columns of ``metrics.csv`` at ``epoch`` (None where missing)."""
    if epoch < 1 or not metrics_csv.is_file():
        return dict.fromkeys(VAL_COLUMNS)
    table = pd.read_csv(metrics_csv)
    row = table[table["epoch"] == epoch]
    result: dict[str, float | None] = {}
    for column in VAL_COLUMNS:
        value = row[column].iloc[0] if column in row.columns and len(row) else None
        result[column] = None if value is None or pd.isna(value) else float(value)
    return result


@dataclass
class Objective:
    """``objective(trial) -> score`` for :meth:`optuna.Study.optimize`.

    Args:
        train_fn: trains one config, ``train_fn(config, callbacks=[...], console=...)``:
            :func:`medclass.api.train` (passed in, because the API layer sits above this package).
        base_tree: the base config tree (YAML plus flags) before the trial's values.
        space: what to search.
        out_dir: the study's output folder (trial runs go under ``trials/``).
        folds: K; 1 trains once on the base config's own split.
        source: name of the base config in error messages.
        console: where training prints.
    """

    train_fn: Callable[..., Any]
    base_tree: dict[str, Any]
    space: SearchSpace
    out_dir: Path
    folds: int = 1
    source: str = "config"
    console: Console = field(default_factory=Console)

    def __call__(self, trial: optuna.Trial) -> float:
        try:
            return self._run(trial)
        except optuna.TrialPruned:
            raise
        except Exception as exc:  # kept with the trial, so trials.csv says why it failed
            trial.set_user_attr(ERROR_ATTR, f"{type(exc).__name__}: {exc}"[:1000])
            raise

    def _run(self, trial: optuna.Trial) -> float:
        values = self.space.suggest(trial)
        tree = apply_values(self.base_tree, values)
        base = build_config(tree, source=self.source)  # a bad combination fails here, before any training
        monitor, mode = base.trainer.monitor, monitor_mode(base.trainer.monitor)
        shown = ", ".join(f"{p.name}={trial.params[p.name]}" for p in self.space.params)
        self.console.print(f"[bold]trial {trial.number}[/]: {shown}")
        results: list[FoldResult] = []
        for fold in range(self.folds):
            run_dir = StudyLayout(self.out_dir).fold_run_dir(trial.number, fold, self.folds)
            config = trial_config(tree, run_dir, fold if self.folds > 1 else None, self.folds, self.source)
            callback = PruningCallback(trial, monitor, fold)
            try:
                self.train_fn(config, callbacks=[callback], console=self.console)
            except optuna.TrialPruned:
                results.append(self._fold_result(fold, callback, mode, run_dir, pruned=True))
                trial.set_user_attr(FOLDS_ATTR, [r.to_dict() for r in results])
                drop_resume_checkpoint(run_dir)
                raise
            drop_resume_checkpoint(run_dir)
            results.append(self._fold_result(fold, callback, mode, run_dir))
            trial.set_user_attr(FOLDS_ATTR, [r.to_dict() for r in results])
        return float(np.mean([r.best for r in results]))

    @staticmethod
    def _fold_result(
        fold: int, callback: PruningCallback, mode: str, run_dir: Path, pruned: bool = False
    ) -> FoldResult:
        best, epoch = best_of(callback.history, mode)
        return FoldResult(
            fold=fold,
            best=best,
            best_epoch=epoch,
            epochs=len(callback.history),
            metrics=metrics_at_epoch(run_dir / METRICS_FILE, epoch),
            run_dir=str(run_dir),
            pruned=pruned,
        )
