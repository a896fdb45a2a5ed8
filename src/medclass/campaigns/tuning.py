"""One tuning campaign: check the settings, open (or resume, or join) the study, run trials until it holds N
finished ones, and write its result files. :func:`medclass.api.tune.tune` adds the plots and the tracker.

The folder's file names are those of :class:`medclass.runs.campaign_layout.StudyLayout`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from rich.console import Console

from medclass.campaigns.objective import Objective
from medclass.campaigns.search_space import SearchSpace, check_space
from medclass.campaigns.study import (
    SAMPLERS,
    count_states,
    make_sampler,
    make_storage,
    open_study,
    run_trials,
    sampler_seed,
    storage_url,
)
from medclass.campaigns.trials import best_trial, param_importances, write_tables
from medclass.config import Config, build_config, set_dotted
from medclass.data.discovery import discover
from medclass.data.test_data import label_options
from medclass.runs import monitor_mode
from medclass.runs.campaign_layout import StudyLayout
from medclass.utils.errors import ConfigError
from medclass.utils.io import write_json


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
        monitor: the validation metric the study optimises (``trainer.monitor``).
        direction: ``minimize`` or ``maximize``.
        importances: fANOVA importance of each parameter (empty with fewer than two complete trials).
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
    monitor: str = "val_loss"
    direction: str = "minimize"
    importances: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class StudySettings:
    """How a study searches: the sampler, K folds per trial, where it is stored and how workers stay alive."""

    n_trials: int = 20
    folds: int = 1
    sampler: str = "tpe"
    storage: str | None = None
    study_name: str = "medclass-tune"
    heartbeat_seconds: int | None = None
    grace_seconds: int | None = None


def checked_trials(
    space: SearchSpace, base_tree: Mapping[str, Any], settings: StudySettings, console: Console
) -> int:
    """Validate the search settings; returns the number of trials to run (a grid caps it at its size).

    Raises:
        ConfigError: naming the flag and what is allowed.
    """
    check_space(space, base_tree)
    if settings.sampler not in SAMPLERS:
        raise ConfigError(f"--sampler {settings.sampler!r}: must be one of {', '.join(SAMPLERS)}")
    if settings.folds < 1:
        raise ConfigError(f"--folds {settings.folds}: must be >= 1 (1: no cross-validation)")
    if settings.n_trials < 1:
        raise ConfigError(f"--trials {settings.n_trials}: must be >= 1")
    if settings.sampler == "grid" and settings.n_trials > space.grid_size():
        console.print(
            f"the grid has {space.grid_size()} points: running {space.grid_size()} trials, "
            f"not {settings.n_trials}"
        )
        return space.grid_size()
    return settings.n_trials


# The objective of a study on multi-label data unless trainer.monitor is given: the mean per-label AUROC on val.
MULTILABEL_MONITOR = "val_auroc"


def task_objective(
    base_tree: Mapping[str, Any], base: Config, source: str = "config"
) -> tuple[dict[str, Any], Config]:
    """The base config with the task's default objective: on a multi-label data set (a CSV manifest or an
    ``.npz`` read as multi-label) and without ``trainer.monitor`` in ``base_tree``, ``trainer.monitor =
    val_auroc`` (the mean per-label AUROC on val: the loss of findings weighed by pos_weight or a focal term
    does not rank models as their AUROC does); otherwise the config as given.

    Raises:
        DataError: the data set cannot be read (named, as train would say).
    """
    tree = dict(base_tree)
    path = base.data.path
    if (tree.get("trainer") or {}).get("monitor") is not None or path is None:
        return tree, base
    if Path(path).suffix.lower() not in (".csv", ".npz"):  # folders are single-label by layout
        return tree, base
    if not discover(path, label_options(base)).multilabel:
        return tree, base
    tree = json.loads(json.dumps(tree))  # a deep copy: the caller's tree is left as it was
    set_dotted(tree, "trainer.monitor", MULTILABEL_MONITOR)
    return tree, build_config(tree, source=source)


def objective_label(monitor: str, folds: int) -> str:
    """What a study's objective is, for plot axes: ``val_loss (mean of folds, best epoch)``."""
    return f"{monitor} ({'mean of folds, ' if folds > 1 else ''}best epoch)"


def open_tune_study(
    out_dir: Path, space: SearchSpace, settings: StudySettings, direction: str, monitor: str, seed: int
) -> optuna.Study:
    """Create or load the study, with a sampler seeded apart from earlier workers of the same study."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    timing = {"heartbeat_seconds": settings.heartbeat_seconds, "grace_seconds": settings.grace_seconds}
    study = open_study(
        settings.study_name,
        make_storage(
            storage_url(out_dir, settings.storage), **{k: v for k, v in timing.items() if v is not None}
        ),
        make_sampler(settings.sampler, space),
        direction,
        settings={"space": space.describe(), "folds": settings.folds, "monitor": monitor},
    )
    worker_seed = sampler_seed(
        seed, len(study.get_trials(deepcopy=False)), shared=settings.storage is not None
    )
    study.sampler = make_sampler(settings.sampler, space, seed=worker_seed)
    return study


def run_study(
    train_fn: Callable[..., Any],
    base_tree: Mapping[str, Any],
    base: Config,
    space: SearchSpace,
    out_dir: Path,
    settings: StudySettings,
    n_trials: int,
    source: str,
    console: Console,
) -> TuneResult:
    """Run the study in ``out_dir`` (already claimed) until it holds ``n_trials`` finished trials; write
    trials.csv, best.yaml, best_trial.json and the importances. The result's ``plots`` are left empty.

    Args:
        train_fn: trains one config (:func:`medclass.api.train`, passed in: the api sits above).
        base_tree: the base config tree each trial's values are applied to.
        base: that tree validated.
        space: what to search.
        out_dir: the study folder.
        settings: sampler, folds, storage, name and liveness of the study.
        n_trials: from :func:`checked_trials`.
        source: name of the base config in messages.
        console: where progress goes.
    """
    base_tree = dict(base_tree)
    monitor = base.trainer.monitor
    direction = "minimize" if monitor_mode(monitor) == "min" else "maximize"
    study = open_tune_study(out_dir, space, settings, direction, monitor, base.seed)
    counts = count_states(study)
    done = counts[optuna.trial.TrialState.COMPLETE] + counts[optuna.trial.TrialState.PRUNED]
    folds = settings.folds
    console.print(
        f"[bold]study {settings.study_name}[/] ({settings.sampler}, {direction} {monitor}"
        f"{f' mean of {folds} folds' if folds > 1 else ''}): {done} of {n_trials} trials finished"
    )
    objective = Objective(train_fn, base_tree, space, out_dir, folds=folds, source=source, console=console)

    def after_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        value = f"{trial.value:.4f}" if trial.value is not None else "-"
        console.print(f"trial {trial.number} {trial.state.name.lower()}: {monitor} {value}")
        write_tables(study, space, base_tree, out_dir, source)

    ran = run_trials(study, objective, n_trials, on_trial_end=after_trial)
    table, best = write_tables(study, space, base_tree, out_dir, source)
    importances = param_importances(study)
    if importances:
        write_json(StudyLayout(out_dir).importances, importances)
    top = best_trial(study)
    return TuneResult(
        out_dir=out_dir,
        study_name=settings.study_name,
        trials=table,
        best_number=top.number if top else None,
        best_value=top.value if top else None,
        best_params=dict(top.params) if top else {},
        best_config=best,
        plots=[],
        ran=ran,
        monitor=monitor,
        direction=direction,
        importances=importances,
    )
