"""An interrupted study resumes and ends with exactly the requested trials; folds; pruning; stale trials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest
import yaml
from optuna.trial import TrialState

from medclass.api import train
from medclass.api.tune import tune
from medclass.campaigns.objective import Objective
from medclass.campaigns.search_space import parse_space
from medclass.campaigns.study import TuningError, make_storage, storage_url
from medclass.config import build_config
from medclass.utils.errors import ConfigError

SPACE = parse_space(
    {
        "lr": {"type": "float", "low": 1e-3, "high": 3e-2, "log": True},
        "batch_size": {"type": "categorical", "choices": [8, 16]},
    },
    source="space.yaml",
)


def _study(out: Path, name: str = "medclass-tune") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=storage_url(out))


def _finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))


def test_interrupted_study_resumes_to_exactly_the_requested_trials(
    tiny_tree: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "study"
    first = tune(tiny_tree, SPACE, out, n_trials=2, sampler="random")
    assert first.ran == 2 and len(_finished(_study(out))) == 2
    # The same command asking for 4 trials continues the study from the database: 2 more trials.
    second = tune(tiny_tree, SPACE, out, n_trials=4, sampler="random")
    assert second.ran == 2
    study = _study(out)
    assert len(_finished(study)) == 4 and len(study.trials) == 4
    # The resumed run drew new values: a sampler seeded as in the first run would repeat trials 0 and 1.
    assert len({t.params["lr"] for t in study.trials}) == 4
    table = pd.read_csv(out / "trials.csv")
    assert sorted(table["number"]) == [0, 1, 2, 3]
    assert set(table["state"]) == {"COMPLETE"}
    assert {"param_lr", "param_batch_size", "fold0_best", "mean_best", "std_best", "duration_s"} <= set(
        table.columns
    )
    assert table["value"].tolist() == pytest.approx(table["fold0_best"].tolist())
    # A third call has nothing left to do.
    assert tune(tiny_tree, SPACE, out, n_trials=4, sampler="random").ran == 0
    # best.yaml is a full config holding the best trial's parameters on the base config.
    best = study.best_trial
    config = build_config(yaml.safe_load((out / "best.yaml").read_text()))
    assert (
        config.optim.lr == pytest.approx(best.params["lr"])
        and config.data.batch_size == best.params["batch_size"]
    )
    assert config.data.path == tiny_tree["data"]["path"] and config.model.cnn.blocks[1].out_channels == 8
    assert config.out is None and config.evaluation.report is False  # as in the base (a new run folder)
    for name in ("optimization_history", "param_importances", "parallel_coordinates", "scatter_3d"):
        assert (out / "plots" / f"{name}.png").stat().st_size > 1000, name
    trial_run = out / "trials" / "trial-0003" / "run"
    assert (trial_run / "test_metrics.json").is_file() and (trial_run / "checkpoints" / "best.ckpt").is_file()
    assert not (trial_run / "checkpoints" / "last.ckpt").exists()  # only a finished training's resume point


def test_resuming_with_another_search_is_refused(tiny_tree: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "study"
    tune(tiny_tree, SPACE, out, n_trials=1, sampler="random")
    with pytest.raises(ConfigError, match="other settings \\(folds differ\\)"):
        tune(tiny_tree, SPACE, out, n_trials=2, folds=2, sampler="random")


def test_folds_score_the_mean_of_k_trainings(tiny_tree: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "cv"
    result = tune(tiny_tree, SPACE, out, n_trials=1, folds=2, sampler="random")
    row = result.trials.iloc[0]
    assert row["value"] == pytest.approx((row["fold0_best"] + row["fold1_best"]) / 2)
    assert row["mean_val_accuracy"] == pytest.approx(
        (row["fold0_val_accuracy"] + row["fold1_val_accuracy"]) / 2
    )
    assert row["std_best"] == pytest.approx(abs(row["fold0_best"] - row["fold1_best"]) / 2**0.5)
    splits = [pd.read_csv(out / "trials" / "trial-0000" / f"fold-{k}" / "splits.csv") for k in (0, 1)]
    # The same stratified folds in both trainings; each validates on its own fold, the test part is shared.
    assert splits[0]["fold"].equals(splits[1]["fold"])
    config0 = yaml.safe_load((out / "trials" / "trial-0000" / "fold-0" / "config.yaml").read_text())
    config1 = yaml.safe_load((out / "trials" / "trial-0000" / "fold-1" / "config.yaml").read_text())
    assert (config0["split"]["strategy"], config0["split"]["fold"], config1["split"]["fold"]) == (
        "kfold",
        0,
        1,
    )
    # best.yaml keeps the base config's own split, not the folds of the search.
    assert yaml.safe_load((out / "best.yaml").read_text())["split"]["strategy"] == "stratified"


def test_the_pruner_stops_a_training_after_the_reported_epoch(
    tiny_tree: dict[str, Any], tmp_path: Path
) -> None:
    tiny_tree["trainer"]["epochs"] = 3
    # This pruner prunes any val_loss above -1, i.e. at the first report: the training must stop right there.
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=-1.0, n_warmup_steps=1))
    objective = Objective(train, tiny_tree, SPACE, tmp_path, folds=1)
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == TrialState.PRUNED
    assert sorted(trial.intermediate_values) == [0, 1]  # epochs 1 and 2 reported, pruned after warm-up
    metrics = pd.read_csv(tmp_path / "trials" / "trial-0000" / "run" / "metrics.csv")
    assert len(metrics) == 1  # epoch 2 was pruned inside validation, before its row was written
    fold = trial.user_attrs["folds"][0]
    assert fold["pruned"] and fold["epochs"] == 2


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_a_trial_of_a_dead_worker_is_failed_and_replaced(tiny_tree: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "study"
    out.mkdir()
    storage = make_storage(storage_url(out), heartbeat_seconds=1, grace_seconds=2)
    study = optuna.create_study(study_name="medclass-tune", storage=storage)
    dead = study.ask()  # a worker that started a trial, sent one heartbeat, and was killed
    storage.record_heartbeat(dead._trial_id)
    result = tune(tiny_tree, SPACE, out, n_trials=1, sampler="random", heartbeat_seconds=1, grace_seconds=2)
    states = {t.number: t.state for t in _study(out).trials}
    assert states[dead.number] == TrialState.FAIL
    assert list(states.values()).count(TrialState.COMPLETE) == 1 and result.ran == 1


def test_repeated_failures_stop_the_search_with_their_errors(
    tiny_tree: dict[str, Any], tmp_path: Path
) -> None:
    space = parse_space({"model": {"type": "categorical", "choices": ["no_such_net", "nor_this_one"]}})
    out = tmp_path / "study"
    with pytest.raises(TuningError, match="3 trials failed in a row") as error:
        tune(tiny_tree, space, out, n_trials=5, sampler="random")
    assert "no_such_net" in str(error.value) or "nor_this_one" in str(error.value)
    table = pd.read_csv(out / "trials.csv")
    assert (
        table["state"].tolist() == ["FAIL"] * 3
        and table["error"].str.contains("no_such_net|nor_this_one").all()
    )
