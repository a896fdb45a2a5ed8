"""`medclass tune` on its default path (TPE sampler, median pruner) and with --sampler grid and --storage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest
import yaml

from medclass.cli.app import run_app


def _files(tmp_path: Path, tree: dict[str, Any], space: dict[str, Any]) -> tuple[Path, Path]:
    config, space_file = tmp_path / "base.yaml", tmp_path / "space.yaml"
    config.write_text(yaml.safe_dump(tree))
    space_file.write_text(yaml.safe_dump(space))
    return config, space_file


def test_grid_sampler_visits_every_point_once_and_caps_the_trials(
    tiny_tree: dict[str, Any], tmp_path: Path
) -> None:
    grid = [0.001, 0.003, 0.01]
    config, space = _files(tmp_path, tiny_tree, {"optim.lr": {"type": "categorical", "choices": grid}})
    out = tmp_path / "grid"
    args = ["tune", "--config", str(config), "--space", str(space), "--out", str(out), "--sampler", "grid"]
    assert run_app([*args, "--trials", "5"]) == 0
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 3  # capped at the grid's size
    assert sorted(trials.filter(like="param_").iloc[:, 0]) == grid


def test_default_tpe_sampler_with_an_explicit_sqlite_storage(
    tiny_tree: dict[str, Any], tmp_path: Path
) -> None:
    space = {"optim.lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True}}
    config, space_file = _files(tmp_path, tiny_tree, space)
    out, db = tmp_path / "tpe", tmp_path / "elsewhere" / "studies.db"
    db.parent.mkdir()
    url = f"sqlite:///{db}"
    args = ["tune", "--config", str(config), "--space", str(space_file), "--out", str(out), "--storage", url]
    assert run_app([*args, "--trials", "2", "--study", "s1"]) == 0
    assert not (out / "study.db").exists()  # the study lives where --storage says
    study = optuna.load_study(study_name="s1", storage=url)
    assert len(study.trials) == 2 and len({t.params["optim.lr"] for t in study.trials}) == 2
    # Resuming through the same storage adds trials to that study.
    assert run_app([*args, "--trials", "3", "--study", "s1"]) == 0
    assert len(optuna.load_study(study_name="s1", storage=url).trials) == 3


@pytest.mark.slow
def test_default_median_pruner_prunes_a_hopeless_trial(tiny_tree: dict[str, Any], tmp_path: Path) -> None:
    # Five good learning rates and two that cannot learn; the grid walks them in a seeded order, and once five
    # trials have finished the median pruner stops a hopeless one after its second epoch.
    tiny_tree["trainer"]["epochs"] = 3
    choices = [0.01, 0.012, 0.014, 0.016, 0.018, 1e-9, 2e-9]
    config, space = _files(tmp_path, tiny_tree, {"optim.lr": {"type": "categorical", "choices": choices}})
    out = tmp_path / "pruned"
    args = ["tune", "--config", str(config), "--space", str(space), "--out", str(out), "--sampler", "grid"]
    assert run_app([*args, "--trials", "7"]) == 0
    trials = pd.read_csv(out / "trials.csv")
    pruned = trials[trials["state"] == "PRUNED"]
    assert len(pruned) >= 1, trials
    assert set(pruned.filter(like="param_").iloc[:, 0]) <= {1e-9, 2e-9}
