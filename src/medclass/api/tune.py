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

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import yaml
from rich.console import Console

from medclass.api.train import train
from medclass.config import build_config, config_to_dict
from medclass.reporting import plots_campaigns as plots
from medclass.runs import monitor_mode, prepare_output_dir
from medclass.training.tracking import log_summary
from medclass.tuning.objective import FOLDS_ATTR, TRIALS_DIR, Objective, final_config
from medclass.tuning.space import Param, SearchSpace, check_space
from medclass.tuning.study import (
    SAMPLERS,
    STUDY_DB,
    count_states,
    make_sampler,
    make_storage,
    open_study,
    run_trials,
    sampler_seed,
    storage_url,
    trials_table,
)
from medclass.utils.console import default_console
from medclass.utils.errors import ConfigError
from medclass.utils.io import atomic_write, write_json

TRIALS_FILE = "trials.csv"
BEST_CONFIG_FILE = "best.yaml"
BEST_TRIAL_FILE = "best_trial.json"
IMPORTANCES_FILE = "param_importances.json"
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
        space: the search space (:func:`medclass.tuning.space.load_space`).
        out_dir: the output folder (see the module docstring).
        n_trials: the total the study ends with (finished trials of earlier calls count).
        folds: K > 1: each trial trains K folds and scores their mean.
        sampler: ``tpe``, ``random`` or ``grid`` (the grid caps ``n_trials`` at its size).
        storage: database URL (default ``sqlite:///<out_dir>/study.db``); PostgreSQL for several machines.
        study_name: the study's name in the storage (workers of one study use the same).
        source: name of the base config in messages.
        heartbeat_seconds, grace_seconds: liveness of workers (default
            :data:`medclass.tuning.study.HEARTBEAT_SECONDS` / ``GRACE_SECONDS``).
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
        n_trials = space.grid_size()
    monitor = base.trainer.monitor
    direction = "minimize" if monitor_mode(monitor) == "min" else "maximize"
    prepare_output_dir(out_dir, "tune", reuse=True, legacy=_TUNE_MARKERS)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    timing = {
        k: v
        for k, v in (("heartbeat_seconds", heartbeat_seconds), ("grace_seconds", grace_seconds))
        if v is not None
    }
    study = open_study(
        study_name,
        make_storage(storage_url(out_dir, storage), **timing),
        make_sampler(sampler, space),
        direction,
        settings={"space": space.describe(), "folds": folds, "monitor": monitor},
    )
    seed = sampler_seed(base.seed, len(study.get_trials(deepcopy=False)), shared=storage is not None)
    study.sampler = make_sampler(sampler, space, seed=seed)
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
    best_trial = _best_trial(study)
    result = TuneResult(
        out_dir=out_dir,
        study_name=study_name,
        trials=table,
        best_number=best_trial.number if best_trial else None,
        best_value=best_trial.value if best_trial else None,
        best_params=dict(best_trial.params) if best_trial else {},
        best_config=best,
        plots=written,
        ran=ran,
    )
    log_summary(
        base,
        out_dir,
        params={
            "study": study_name,
            "sampler": sampler,
            "folds": folds,
            "trials": n_trials,
            **{f"best.{k}": v for k, v in result.best_params.items()},
        },
        metrics={f"best_{monitor}": result.best_value} if result.best_value is not None else {},
        files=[out_dir / TRIALS_FILE, out_dir / BEST_CONFIG_FILE, out_dir / IMPORTANCES_FILE, *written],
    )
    if best_trial is not None:
        console.print(
            f"[bold]best trial {best_trial.number}[/]: {monitor} {best_trial.value:.4f} with {best_trial.params}\n"
            f"reproduce it with: medclass train --config {best}"
        )
    console.print(f"results in {out_dir}")
    return result


def _best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return None
    key = (
        (lambda t: t.value)
        if study.direction == optuna.study.StudyDirection.MINIMIZE
        else (lambda t: -t.value)
    )
    return min(complete, key=key)


def write_tables(
    study: optuna.Study, space: SearchSpace, base_tree: Mapping[str, Any], out_dir: Path, source: str
) -> tuple[pd.DataFrame, Path | None]:
    """Write trials.csv and, once a trial is complete, best.yaml and best_trial.json (atomically: several
    workers may share the folder)."""
    table = trials_table(study, space)
    with atomic_write(out_dir / TRIALS_FILE) as handle:
        handle.write(table.to_csv(index=False, float_format="%.6g"))
    best = _best_trial(study)
    if best is None:
        return table, None
    config = final_config(base_tree, space, best.params, source)
    header = (
        f"# Best trial {best.number} of study {study.study_name}: {config.trainer.monitor} = {best.value:.6g}\n"
        f"# parameters: {best.params}\n# reproduce: medclass train --config {out_dir / BEST_CONFIG_FILE}\n"
    )
    with atomic_write(out_dir / BEST_CONFIG_FILE) as handle:
        handle.write(header + yaml.safe_dump(config_to_dict(config), sort_keys=False))
    write_json(
        out_dir / BEST_TRIAL_FILE,
        {
            "number": best.number,
            "value": best.value,
            "monitor": config.trainer.monitor,
            "params": best.params,
            "folds": best.user_attrs.get(FOLDS_ATTR, []),
        },
    )
    return table, out_dir / BEST_CONFIG_FILE


def param_importances(study: optuna.Study) -> dict[str, float]:
    """fANOVA importances of the complete trials (seeded, so the same study gives the same numbers); empty when
    they cannot be computed (fewer than two complete trials, or no parameter varies)."""
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))
    except (RuntimeError, ValueError):
        return {}


def _log_axis(param: Param) -> bool:
    """Log-scale plot axes for log-searched ranges and for numeric choices spanning a decade or more."""
    if param.log:
        return True
    values = [v for v in param.choices if param.kind == "categorical" and param.numeric]
    return bool(values) and min(values) > 0 and max(values) / min(values) >= 10


def write_plots(
    study: optuna.Study, space: SearchSpace, table: pd.DataFrame, out_dir: Path, label: str, direction: str
) -> list[Path]:
    """The study's plots in ``out_dir/plots`` (each skipped when the trials do not support it yet)."""
    complete = table[table["state"] == "COMPLETE"] if not table.empty else table
    if complete.empty:
        return []
    folder = out_dir / PLOTS_DIR
    log_params = [p.name for p in space.params if _log_axis(p)]
    written = [plots.plot_optimization_history(table, folder / "optimization_history.png", label, direction)]
    importances = param_importances(study)
    if importances:
        write_json(out_dir / IMPORTANCES_FILE, importances)
        written.append(plots.plot_param_importances(importances, folder / "param_importances.png"))
    written.append(
        plots.plot_parallel_coordinates(
            table, space.names, folder / "parallel_coordinates.png", label, log_params
        )
    )
    pair = space.scatter_params()
    if pair is not None:
        color_by = next((p.name for p in space.params if not p.numeric and p.name not in pair), None)
        written.append(
            plots.plot_scatter_3d(
                table, *pair, folder / "scatter_3d.png", label, color_by=color_by, log_params=log_params
            )
        )
    return written
