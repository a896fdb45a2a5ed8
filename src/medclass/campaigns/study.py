"""Creating, resuming and sharing an Optuna study, and running trials until a study holds N finished ones.

Storage: an SQLite file ``study.db`` in the output folder unless a URL is given. Because the study lives in a
database, running the same command again after an interruption continues it: finished (complete or pruned)
trials count toward ``--trials``, so the study ends with exactly the number asked for. With
``--storage postgresql://user@host/db`` several workers on several machines fill one study together.

Workers announce they are alive with Optuna's heartbeat; a trial whose worker died (killed, machine lost) is
failed after a grace period and its parameters are queued again, so no trial stays "running" forever.
"""

from __future__ import annotations

import importlib.util
import os
import random
import socket
import time
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.exceptions import ExperimentalWarning
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback, fail_stale_trials
from optuna.trial import FrozenTrial, TrialState

from medclass.campaigns.search_space import SearchSpace
from medclass.runs.campaign_layout import StudyLayout
from medclass.utils.errors import ConfigError, MedclassError

SAMPLERS = ("tpe", "random", "grid")
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
# A worker records a heartbeat every HEARTBEAT_SECONDS; a running trial silent for GRACE_SECONDS is stale.
HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 60
# A trial started when the study already had enough trials running is told FAIL with this user attribute.
SURPLUS_ATTR = "surplus"
# Study user attributes that a resumed or second worker must agree with.
SETTINGS_ATTR = "medclass_settings"
_OPEN_ATTEMPTS = 3


class TuningError(MedclassError):
    """Trials keep failing (the message lists their errors)."""


class SurplusTrial(Exception):
    """Raised inside a trial that another worker made unnecessary (the study already has enough trials)."""


def storage_url(out_dir: str | Path, storage: str | None = None) -> str:
    """The storage URL: ``storage`` as given, else ``sqlite:///<out_dir>/study.db``."""
    if storage:
        return storage
    return f"sqlite:///{StudyLayout(Path(out_dir)).db.resolve()}"


def with_installed_driver(url: str) -> str:
    """``postgresql://...`` with the PostgreSQL driver that is installed.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3; medclass's dev extra installs psycopg2 (binary
    wheels everywhere), so a bare URL is pointed at ``postgresql+psycopg2://`` when only psycopg2 is present.
    URLs that name a driver are left alone.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("postgresql", "postgres"):
        return url
    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
        return f"postgresql+psycopg2://{rest}"
    return url


def make_storage(
    url: str, heartbeat_seconds: int = HEARTBEAT_SECONDS, grace_seconds: int = GRACE_SECONDS
) -> RDBStorage:
    """An RDB storage with heartbeats, retrying (once) the parameters of a trial whose worker died.

    Raises:
        ConfigError: the URL is not a database Optuna can open (the message names the URL).
    """
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        # Two workers on one SQLite file wait for each other's write lock instead of failing at once.
        engine_kwargs["connect_args"] = {"timeout": 60}
    else:
        engine_kwargs["pool_pre_ping"] = True
    for attempt in range(1, _OPEN_ATTEMPTS + 1):
        try:
            with warnings.catch_warnings():
                # Heartbeats are marked experimental in Optuna since 2.8 and are what makes dead workers'
                # trials recoverable; the warning says nothing a user can act on.
                warnings.simplefilter("ignore", ExperimentalWarning)
                return RDBStorage(
                    with_installed_driver(url),
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=heartbeat_seconds,
                    grace_period=grace_seconds,
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
                )
        except Exception as exc:  # SQLAlchemy errors: bad URL, server down, missing driver, creation race
            # Workers started together on an empty database race to create Optuna's tables; the loser finds
            # them on its next attempt.
            if attempt == _OPEN_ATTEMPTS:
                raise ConfigError(
                    f"--storage {_redacted(url)}: cannot open the study database ({exc})"
                ) from exc
            time.sleep(random.uniform(0.5, 2.0))
    raise AssertionError("unreachable")


def _redacted(url: str) -> str:
    """The URL without its password."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url


def make_sampler(name: str, space: SearchSpace, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """TPE (default), random or grid sampler over ``space``.

    Raises:
        ConfigError: unknown sampler name, or a grid over a continuous parameter.
    """
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler(space.grid(), seed=seed)
    raise ConfigError(f"--sampler {name!r}: must be one of {', '.join(SAMPLERS)}")


def sampler_seed(base_seed: int, existing_trials: int, shared: bool = False) -> int:
    """The seed of this worker's sampler.

    ``base_seed + existing_trials``: a resumed study draws new values instead of repeating the ones its first
    run drew (a sampler seeded alike would). With a shared storage the host name and process id are mixed in as
    well, so that workers started at the same moment on a study of the same size do not draw the same values.
    """
    seed = base_seed + existing_trials
    if shared:
        seed = zlib.crc32(f"{seed}:{socket.gethostname()}:{os.getpid()}".encode())
    return seed % 2**31


def make_pruner(warmup_epochs: int = 1) -> optuna.pruners.MedianPruner:
    """Median pruning: stop a trial whose validation metric is worse than the median of earlier trials at the
    same epoch, once 5 trials have finished and after ``warmup_epochs`` epochs (first epochs are noisy)."""
    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=warmup_epochs)


def open_study(
    name: str,
    storage: RDBStorage,
    sampler: optuna.samplers.BaseSampler,
    direction: str,
    settings: dict[str, Any],
    pruner: optuna.pruners.BasePruner | None = None,
) -> optuna.Study:
    """Create the study or load it (``load_if_exists``), refusing to resume it with another search.

    Args:
        name: study name (shared by all workers).
        storage: from :func:`make_storage`.
        sampler: from :func:`make_sampler`.
        direction: ``minimize`` or ``maximize``.
        settings: what defines the search (space, folds, metric); stored with a new study and compared with
            the stored one when resuming, so trials of two different searches never mix.
        pruner: default :func:`make_pruner`.

    Raises:
        ConfigError: the existing study was made with other settings or another direction.
    """
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        sampler=sampler,
        pruner=pruner or make_pruner(),
        direction=direction,
        load_if_exists=True,
    )
    stored = study.user_attrs.get(SETTINGS_ATTR)
    if stored is None:
        study.set_user_attr(SETTINGS_ATTR, settings)
    elif stored != settings:
        changed = sorted(k for k in set(stored) | set(settings) if stored.get(k) != settings.get(k))
        raise ConfigError(
            f"study {name!r} in {_redacted(storage.url)} was started with other settings ({', '.join(changed)} "
            "differ): resume it with the same --space/--folds/metric, or choose another --study or --out"
        )
    if study.direction.name.lower() != direction:
        raise ConfigError(f"study {name!r} {study.direction.name.lower()}s; this search would {direction}")
    return study


def count_states(study: optuna.Study) -> dict[TrialState, int]:
    """Number of trials per state (surplus placeholders left out)."""
    counts = dict.fromkeys(TrialState, 0)
    for trial in study.get_trials(deepcopy=False):
        if not trial.user_attrs.get(SURPLUS_ATTR):
            counts[trial.state] += 1
    return counts


def finished_count(study: optuna.Study) -> int:
    """Complete plus pruned trials: what counts toward ``--trials``."""
    counts = count_states(study)
    return sum(counts[s] for s in FINISHED)


def is_surplus(study: optuna.Study, trial: optuna.Trial, n_trials: int) -> bool:
    """True when trials numbered before ``trial`` already fill the study (finished or running).

    Two workers may start a trial at the same moment when one is missing; trial numbers are handed out in order
    by the database, so the later one sees the earlier one running and stands down.
    """
    earlier = [
        t
        for t in study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.RUNNING))
        if t.number < trial.number and not t.user_attrs.get(SURPLUS_ATTR)
    ]
    return len(earlier) >= n_trials


def run_trials(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], float],
    n_trials: int,
    on_trial_end: Callable[[optuna.Study, FrozenTrial], None] | None = None,
    catch: tuple[type[Exception], ...] = (Exception,),
    poll_seconds: float = 5.0,
    max_failures: int = 3,
) -> int:
    """Run trials until the study holds ``n_trials`` complete or pruned ones; returns how many this call ran.

    Safe with several workers on one study: a worker starts a trial only while finished + running trials are
    fewer than ``n_trials``; when the rest are running elsewhere it waits, so that a trial whose worker died is
    replaced (after the heartbeat grace period) instead of being lost.

    Args:
        study: from :func:`open_study`.
        objective: one trial; raises ``optuna.TrialPruned`` when pruned.
        n_trials: the total the study should end with.
        on_trial_end: called after each trial this worker ran (write tables, plots).
        catch: exceptions that fail one trial without stopping the search (default: any ``Exception``;
            ``KeyboardInterrupt`` always stops it, the trial marked failed).
        poll_seconds: how often a waiting worker looks again.
        max_failures: stop with :class:`TuningError` after this many failed trials in a row.

    Raises:
        TuningError: ``max_failures`` consecutive trials failed (their errors are listed).
    """

    def guarded(trial: optuna.Trial) -> float:
        if is_surplus(study, trial, n_trials):
            trial.set_user_attr(SURPLUS_ATTR, True)
            raise SurplusTrial(f"trial {trial.number}: the study already has {n_trials} trials")
        return objective(trial)

    ran: list[int] = []
    failures: list[FrozenTrial] = []  # this worker's failed trials since its last finished one

    def after_trial(study: optuna.Study, trial: FrozenTrial) -> None:
        if trial.user_attrs.get(SURPLUS_ATTR):
            return
        ran.append(trial.number)
        if trial.state == TrialState.FAIL:
            failures.append(trial)
        else:
            failures.clear()
        if on_trial_end is not None:
            on_trial_end(study, trial)
        if len(failures) >= max_failures:
            # Failures only end a search when they repeat: one bad parameter combination should not, but a
            # missing data folder would otherwise fail trial after trial without end.
            reasons = "; ".join(f"trial {t.number}: {t.user_attrs.get('error', 'failed')}" for t in failures)
            raise TuningError(f"{max_failures} trials failed in a row, stopping: {reasons}")

    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            fail_stale_trials(study)
        counts = count_states(study)
        finished = sum(counts[s] for s in FINISHED)
        if finished >= n_trials:
            return len(ran)
        if finished + counts[TrialState.RUNNING] >= n_trials:
            time.sleep(poll_seconds)
            continue
        study.optimize(
            guarded, n_trials=1, catch=(SurplusTrial, *catch), callbacks=[after_trial], gc_after_trial=True
        )


def trials_table(study: optuna.Study, space: SearchSpace, folds_attr: str = "folds") -> pd.DataFrame:
    """One row per trial: number, state, objective, parameters, per-fold and mean/std metrics, duration.

    Columns: ``number, state, value, param_<name>..., fold<k>_best, fold<k>_best_epoch, fold<k>_<metric>...,
    mean_<metric>, std_<metric>... (metric: best, best_epoch and each validation column), duration_s,
    started``. ``value`` is the objective (mean of the folds' best monitored value). Surplus placeholders
    (see :func:`run_trials`) are left out; failed and pruned trials are kept with what they reached.
    """
    rows = []
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get(SURPLUS_ATTR):
            continue
        # Optuna stores a pruned trial's last reported value as its value; only a complete trial has an objective.
        value = trial.value if trial.state == TrialState.COMPLETE else None
        row: dict[str, Any] = {"number": trial.number, "state": trial.state.name, "value": value}
        for name in space.names:
            row[f"param_{name}"] = trial.params.get(name)
        folds = trial.user_attrs.get(folds_attr, [])
        per_metric: dict[str, list[float]] = {}
        for fold in folds:
            flat = {"best": fold["best"], "best_epoch": fold["best_epoch"], **fold["metrics"]}
            for metric, value in flat.items():
                row[f"fold{fold['fold']}_{metric}"] = value
                if value is not None and not fold.get("pruned"):
                    per_metric.setdefault(metric, []).append(float(value))
        for metric, values in per_metric.items():
            row[f"mean_{metric}"] = float(np.mean(values))
            row[f"std_{metric}"] = float(np.std(values, ddof=1)) if len(values) > 1 else None
        row["duration_s"] = trial.duration.total_seconds() if trial.duration is not None else None
        row["started"] = trial.datetime_start.isoformat(timespec="seconds") if trial.datetime_start else None
        if trial.state == TrialState.FAIL and "error" in trial.user_attrs:
            row["error"] = trial.user_attrs["error"]
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    # Fixed columns first, then per-fold, then summaries, then time.
    fold_cols = sorted(c for c in table.columns if c.startswith("fold"))
    summary = [c for c in table.columns if c.startswith(("mean_", "std_"))]
    head = ["number", "state", "value", *(f"param_{n}" for n in space.names)]
    tail = [c for c in ("duration_s", "started", "error") if c in table.columns]
    return table[head + fold_cols + sorted(summary, key=lambda c: (c.split("_", 1)[1], c)) + tail]
