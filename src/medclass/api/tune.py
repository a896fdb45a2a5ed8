"""``medclass tune``: an Optuna search over config keys, resumable, shareable between workers.

Output folder::

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from rich.console import Console

from medclass.api.train import train
from medclass.campaigns.objective import TRIALS_DIR, Objective
from medclass.campaigns.search_space import SearchSpace, check_space
from medclass.campaigns.study import (
    SAMPLERS,
    STUDY_DB,
    count_states,
    make_sampler,
    make_storage,
    open_study,
    run_trials,
    sampler_seed,
    storage_url,
)
from medclass.campaigns.trials import (
    BEST_CONFIG_FILE,
    IMPORTANCES_FILE,
    TRIALS_FILE,
    best_trial,
    param_importances,
    plot_plan,
    write_tables,
)
from medclass.config import build_config
from medclass.reporting import plots_campaigns as plots
from medclass.runs import monitor_mode, prepare_output_dir
from medclass.training.tracking import log_summary
from medclass.utils.console import default_console
from medclass.utils.errors import ConfigError
from medclass.utils.io import write_json

PLOTS_DIR = "plots"
_TUNE_MARKERS = (STUDY_DB, TRIALS_FILE, TRIALS_DIR)


@dataclass
class TuneResult:
    """What a finished (or already complete) study holds.

    Attributes:
        out_dir: the output folder.
        study_name: the study's name in its storage.
        trials: the trials table (as in trials.csv).
        best_number: the best trial's number (None when no trial completed).
        best_value: its objective.
        best_params: its parameters (Optuna's values; categorical labels as written in the space).
        best_config: path of best.yaml (None when no trial completed).
        plots: the PNGs written.
        ran: trials run by this call.
    """

    out_dir: Path
    study_name: str
    trials: pd.DataFrame
    best_number: int | None
    best_value: float | None
    best_params: dict[str, Any]
    best_config: Path | None
    plots: list[Path]
    ran: int


def tune(
    base_tree: Mapping[str, Any],
    space: SearchSpace,
    out_dir: str | Path,
    *,
    n_trials: int = 20,
    folds: int = 1,
    sampler: str = "tpe",
    storage: str | None = None,
    study_name: str = "medclass-tune",
    source: str = "config",
    heartbeat_seconds: int | None = None,
    grace_seconds: int | None = None,
    console: Console | None = None,
) -> TuneResult:
    """Run (or resume, or join) a study until it holds ``n_trials`` complete or pruned trials.

    Args:
        base_tree: the base config tree (YAML + flags + ``--set``) that each trial's values are applied to.
        space: the search space (:func:`medclass.campaigns.search_space.load_space`).
        out_dir: the output folder (see the module docstring).
        n_trials: the total the study ends with (finished trials of earlier calls count).
        folds: K > 1: each trial trains K folds and scores their mean.
        sampler: ``tpe``, ``random`` or ``grid`` (the grid caps ``n_trials`` at its size).
        storage: database URL (default ``sqlite:///<out_dir>/study.db``); PostgreSQL for several machines.
        study_name: the study's name in the storage (workers of one study use the same).
        source: name of the base config in messages.
        heartbeat_seconds, grace_seconds: liveness of workers (default
            :data:`medclass.campaigns.study.HEARTBEAT_SECONDS` / ``GRACE_SECONDS``).
        console: where progress goes.

    Returns:
        The :class:`TuneResult`.

    Raises:
        ConfigError: a bad space, base config or setting; RunDirError: ``out_dir`` is someone else's folder;
        TuningError: trials keep failing.
    """
    console = console or default_console()
    out_dir = Path(out_dir)
    base_tree = dict(base_tree)
    base = build_config(base_tree, source=source)
    n_trials = checked_trials(space, base_tree, sampler, folds, n_trials, console)
    monitor = base.trainer.monitor
    direction = "minimize" if monitor_mode(monitor) == "min" else "maximize"
    prepare_output_dir(out_dir, "tune", reuse=True, legacy=_TUNE_MARKERS)
    timing = {"heartbeat_seconds": heartbeat_seconds, "grace_seconds": grace_seconds}
    study = open_tune_study(
        study_name, out_dir, storage, sampler, space, direction, folds, monitor, base.seed, timing
    )
    counts = count_states(study)
    done = counts[optuna.trial.TrialState.COMPLETE] + counts[optuna.trial.TrialState.PRUNED]
    console.print(
        f"[bold]study {study_name}[/] ({sampler}, {direction} {monitor}"
        f"{f' mean of {folds} folds' if folds > 1 else ''}): {done} of {n_trials} trials finished"
    )
    objective = Objective(train, base_tree, space, out_dir, folds=folds, source=source, console=console)
    label = f"{monitor} ({'mean of folds, ' if folds > 1 else ''}best epoch)"

    def after_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        value = f"{trial.value:.4f}" if trial.value is not None else "-"
        console.print(f"trial {trial.number} {trial.state.name.lower()}: {monitor} {value}")
        write_tables(study, space, base_tree, out_dir, source)

    ran = run_trials(study, objective, n_trials, on_trial_end=after_trial)
    table, best = write_tables(study, space, base_tree, out_dir, source)
    written = write_plots(study, space, table, out_dir, label, direction)
    top = best_trial(study)
    result = TuneResult(
        out_dir=out_dir,
        study_name=study_name,
        trials=table,
        best_number=top.number if top else None,
        best_value=top.value if top else None,
        best_params=dict(top.params) if top else {},
        best_config=best,
        plots=written,
        ran=ran,
    )
    log_tune_summary(base, result, sampler, folds, n_trials, monitor)
    if top is not None:
        console.print(
            f"[bold]best trial {top.number}[/]: {monitor} {top.value:.4f} with {top.params}\n"
            f"reproduce it with: medclass train --config {best}"
        )
    console.print(f"results in {out_dir}")
    return result


def write_plots(
    study: optuna.Study, space: SearchSpace, table: pd.DataFrame, out_dir: Path, label: str, direction: str
) -> list[Path]:
    """The study's plots in ``out_dir/plots`` and, when they can be computed, the importances JSON."""
    importances = param_importances(study)
    if importances:
        write_json(out_dir / IMPORTANCES_FILE, importances)
    return plots.write_study_plots(
        table, importances, plot_plan(space), out_dir / PLOTS_DIR, label, direction
    )


def checked_trials(
    space: SearchSpace,
    base_tree: Mapping[str, Any],
    sampler: str,
    folds: int,
    n_trials: int,
    console: Console,
) -> int:
    """Validate the search settings; returns the number of trials to run (a grid caps it at its size).

    Raises:
        ConfigError: naming the flag and what is allowed.
    """
    check_space(space, base_tree)
    if sampler not in SAMPLERS:
        raise ConfigError(f"--sampler {sampler!r}: must be one of {', '.join(SAMPLERS)}")
    if folds < 1:
        raise ConfigError(f"--folds {folds}: must be >= 1 (1: no cross-validation)")
    if n_trials < 1:
        raise ConfigError(f"--trials {n_trials}: must be >= 1")
    if sampler == "grid" and n_trials > space.grid_size():
        console.print(
            f"the grid has {space.grid_size()} points: running {space.grid_size()} trials, not {n_trials}"
        )
        return space.grid_size()
    return n_trials


def open_tune_study(
    study_name: str,
    out_dir: Path,
    storage: str | None,
    sampler: str,
    space: SearchSpace,
    direction: str,
    folds: int,
    monitor: str,
    seed: int,
    timing: Mapping[str, int | None],
) -> optuna.Study:
    """Create or load the study, with a sampler seeded apart from earlier workers of the same study."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(
        study_name,
        make_storage(storage_url(out_dir, storage), **{k: v for k, v in timing.items() if v is not None}),
        make_sampler(sampler, space),
        direction,
        settings={"space": space.describe(), "folds": folds, "monitor": monitor},
    )
    worker_seed = sampler_seed(seed, len(study.get_trials(deepcopy=False)), shared=storage is not None)
    study.sampler = make_sampler(sampler, space, seed=worker_seed)
    return study


def log_tune_summary(
    base: Any, result: TuneResult, sampler: str, folds: int, n_trials: int, monitor: str
) -> None:
    """Send the study's settings, best result and files to the configured tracker (if any)."""
    out_dir = result.out_dir
    log_summary(
        base,
        out_dir,
        params={
            "study": result.study_name,
            "sampler": sampler,
            "folds": folds,
            "trials": n_trials,
            **{f"best.{k}": v for k, v in result.best_params.items()},
        },
        metrics={f"best_{monitor}": result.best_value} if result.best_value is not None else {},
        files=[out_dir / TRIALS_FILE, out_dir / BEST_CONFIG_FILE, out_dir / IMPORTANCES_FILE, *result.plots],
    )
