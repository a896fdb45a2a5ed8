"""The results of a study as files: trials.csv, best.yaml, best_trial.json and the parameter importances,
written atomically (several workers may share the folder), and what the study plots need from the space."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import yaml

from medclass.campaigns.objective import FOLDS_ATTR, final_config
from medclass.campaigns.search_space import Param, SearchSpace
from medclass.campaigns.study import trials_table
from medclass.config import config_to_dict
from medclass.runs.campaign_layout import StudyLayout
from medclass.utils.io import atomic_write, write_json


@dataclass
class StudyPlotPlan:
    """What the study plots show: the parameters, which get log axes, the pair of the 3D scatter and the
    categorical parameter that colours it."""

    names: list[str]
    log_params: list[str]
    scatter_pair: tuple[str, str] | None
    color_by: str | None


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
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
    layout = StudyLayout(Path(out_dir))
    table = trials_table(study, space)
    with atomic_write(layout.trials_table) as handle:
        handle.write(table.to_csv(index=False, float_format="%.6g"))
    best = best_trial(study)
    if best is None:
        return table, None
    config = final_config(base_tree, space, best.params, source)
    header = (
        f"# Best trial {best.number} of study {study.study_name}: {config.trainer.monitor} = {best.value:.6g}\n"
        f"# parameters: {best.params}\n# reproduce: medclass train --config {layout.best_config}\n"
    )
    with atomic_write(layout.best_config) as handle:
        handle.write(header + yaml.safe_dump(config_to_dict(config), sort_keys=False))
    write_json(
        layout.best_trial,
        {
            "number": best.number,
            "value": best.value,
            "monitor": config.trainer.monitor,
            "params": best.params,
            "folds": best.user_attrs.get(FOLDS_ATTR, []),
        },
    )
    return table, layout.best_config


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


def plot_plan(space: SearchSpace) -> StudyPlotPlan:
    """The :class:`StudyPlotPlan` of a search space."""
    pair = space.scatter_params()
    color_by = None
    if pair is not None:
        color_by = next((p.name for p in space.params if not p.numeric and p.name not in pair), None)
    return StudyPlotPlan(
        names=list(space.names),
        log_params=[p.name for p in space.params if _log_axis(p)],
        scatter_pair=pair,
        color_by=color_by,
    )
