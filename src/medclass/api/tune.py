"""``medclass tune``: an Optuna search over config keys, resumable, shareable between workers.

Output folder (names: :mod:`medclass.runs.campaign_layout`)::

    study.db                  the study (unless --storage names another database)
    trials.csv                params, per-fold / mean / std metrics, duration and state of every trial
    best.yaml                 full config of the best trial: `medclass train --config best.yaml`
    best_trial.json           its number, objective, parameters and per-fold results
    param_importances.json    fANOVA importances (when at least two trials are complete)
    plots/                    optimisation history, importances, parallel coordinates, 3D scatter
    trials/trial-NNNN/        the run folder of each trial (fold-K/ per fold with --folds K, else run/)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console

from medclass.api.train import train
from medclass.campaigns.search_space import SearchSpace, load_space
from medclass.campaigns.trials import plot_plan
from medclass.campaigns.tuning import (
    StudySettings,
    TuneResult,
    checked_trials,
    objective_label,
    run_study,
    task_objective,
)
from medclass.config import Config, build_config
from medclass.reporting.plots_campaigns import write_study_plots
from medclass.runs import prepare_output_dir
from medclass.runs.campaign_layout import (
    TUNE_KIND,
    TUNE_LEGACY_ENTRIES,
    TUNE_ROOT,
    StudyLayout,
    default_study_name,
)
from medclass.training.tracking import log_summary
from medclass.utils.console import default_console

DEFAULT_STUDY_NAME = "medclass-tune"  # the study name of a search space given as an object

__all__ = ["TuneResult", "tune"]


def tune(
    base_tree: Mapping[str, Any],
    space: SearchSpace | str | Path,
    out_dir: str | Path | None = None,
    *,
    n_trials: int = 20,
    folds: int = 1,
    sampler: str = "tpe",
    storage: str | None = None,
    study_name: str | None = None,
    source: str = "config",
    heartbeat_seconds: int | None = None,
    grace_seconds: int | None = None,
    console: Console | None = None,
) -> TuneResult:
    """Run (or resume, or join) a study until it holds ``n_trials`` complete or pruned trials.

    Args:
        base_tree: the base config tree (YAML + flags + ``--set``) that each trial's values are applied to.
            The objective is the best ``trainer.monitor`` of each trial; on multi-label data without one it
            is ``val_auroc``, the mean per-label AUROC on val (see
            :func:`medclass.campaigns.tuning.task_objective`).
        space: the search space: a SPACE.yaml file or a :class:`SearchSpace`
            (:func:`medclass.campaigns.search_space.load_space`).
        out_dir: the output folder (see the module docstring; default ``runs/tune/<study_name>``).
        n_trials: the total the study ends with (finished trials of earlier calls count).
        folds: K > 1: each trial trains K folds and scores their mean.
        sampler: ``tpe``, ``random`` or ``grid`` (the grid caps ``n_trials`` at its size).
        storage: database URL (default ``sqlite:///<out_dir>/study.db``); PostgreSQL for several machines.
        study_name: the study's name in the storage (workers of one study use the same); default the space
            file's name without ``.yaml`` and ``.space`` (``medclass-tune`` for a space object).
        source: name of the base config in messages.
        heartbeat_seconds, grace_seconds: liveness of workers (default
            :data:`medclass.campaigns.study.HEARTBEAT_SECONDS` / ``GRACE_SECONDS``).
        console: where progress goes.

    Returns:
        The :class:`TuneResult`.

    Raises:
        ConfigError: a bad space, base config or setting; RunDirError: ``out_dir`` is someone else's folder;
        TuningError: trials keep failing.

    Example:
        >>> medclass.tune({"data": {"path": "data/brain_mri"}}, "sweep.space.yaml", n_trials=8)  # doctest: +SKIP
    """
    console = console or default_console()
    if not isinstance(space, SearchSpace):
        study_name = study_name or default_study_name(space)
        space = load_space(space)
    study_name = study_name or DEFAULT_STUDY_NAME
    out_dir = Path(out_dir) if out_dir is not None else TUNE_ROOT / study_name
    settings = StudySettings(n_trials, folds, sampler, storage, study_name, heartbeat_seconds, grace_seconds)
    base = build_config(dict(base_tree), source=source)
    base_tree, base = task_objective(base_tree, base, source)  # multi-label data: mean AUROC by default
    n_trials = checked_trials(space, base_tree, settings, console)
    prepare_output_dir(out_dir, TUNE_KIND, reuse=True, legacy=TUNE_LEGACY_ENTRIES)
    result = run_study(train, base_tree, base, space, out_dir, settings, n_trials, source, console)
    result.plots = write_study_plots(
        result.trials,
        result.importances,
        plot_plan(space),
        StudyLayout(out_dir).plots,
        objective_label(result.monitor, folds),
        result.direction,
    )
    log_tune_summary(base, result, settings, n_trials)
    if result.best_number is not None:
        console.print(
            f"[bold]best trial {result.best_number}[/]: {result.monitor} {result.best_value:.4f} with "
            f"{result.best_params}\nreproduce it with: medclass train --config {result.best_config}"
        )
    console.print(f"results in {out_dir}")
    return result


def log_tune_summary(base: Config, result: TuneResult, settings: StudySettings, n_trials: int) -> None:
    """Send the study's settings, best result and files to the configured tracker (if any)."""
    layout = StudyLayout(result.out_dir)
    log_summary(
        base,
        result.out_dir,
        params={
            "study": result.study_name,
            "sampler": settings.sampler,
            "folds": settings.folds,
            "trials": n_trials,
            **{f"best.{k}": v for k, v in result.best_params.items()},
        },
        metrics={f"best_{result.monitor}": result.best_value} if result.best_value is not None else {},
        files=[layout.trials_table, layout.best_config, layout.importances, *result.plots],
    )
