"""`medclass tune` and `medclass compare` from the command line: best.yaml reproduces the best trial."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from medclass.cli.app import run_app
from medclass.utils.io import read_json

BASE = {
    "seed": 7,
    "deterministic": True,
    "split": {"strategy": "stratified", "val_frac": 0.25, "test_frac": 0.25},
    "model": {"cnn": {"blocks": [{"out_channels": 4}, {"out_channels": 8}], "dense": [8]}},
    "augment": {"preset": "none"},
    "trainer": {"patience": None, "progress_bar": False},
    "evaluation": {"bootstrap": 0, "report": False},
}
SPACE = (
    "lr: {type: float, low: 1e-3, high: 3e-2, log: true}\nbatch_size: {type: categorical, choices: [8, 16]}\n"
)


@pytest.fixture(scope="module")
def tuned(phantom_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-trial study run through the CLI, with train's flags giving data, model, size and epochs."""
    folder = tmp_path_factory.mktemp("tune")
    (folder / "base.yaml").write_text(yaml.safe_dump(BASE))
    (folder / "sweep.space.yaml").write_text(SPACE)
    code = run_app(
        ["tune", "--config", str(folder / "base.yaml"), "--space", str(folder / "sweep.space.yaml"),
         "--trials", "2", "--sampler", "random", "--data", str(phantom_data), "--model", "cnn",
         "--image-size", "32", "--epochs", "2", "--out", str(folder / "out")]
    )  # fmt: skip
    assert code == 0
    return folder / "out"


def test_best_yaml_reproduces_the_best_trial(tuned: Path, tmp_path: Path) -> None:
    best = read_json(tuned / "best_trial.json")
    assert len(pd.read_csv(tuned / "trials.csv")) == 2
    config = yaml.safe_load((tuned / "best.yaml").read_text())
    assert config["optim"]["lr"] == pytest.approx(best["params"]["lr"])
    assert (config["model"]["name"], config["data"]["image_size"], config["trainer"]["epochs"]) == (
        "cnn",
        32,
        2,
    )
    run = tmp_path / "again"
    assert run_app(["train", "--config", str(tuned / "best.yaml"), "--out", str(run)]) == 0
    # Deterministic training: the same best validation loss as the trial (metrics.csv keeps 6 digits).
    assert pd.read_csv(run / "metrics.csv")["val_loss"].min() == pytest.approx(best["value"], rel=1e-5)


def test_the_study_is_named_after_the_space_file(tuned: Path) -> None:
    import optuna

    from medclass.campaigns.study import storage_url

    names = [s.study_name for s in optuna.get_all_study_summaries(storage=storage_url(tuned))]
    assert names == ["sweep"]  # sweep.space.yaml without --study


def test_compare_takes_finished_run_folders(tuned: Path, tmp_path: Path) -> None:
    runs = [str(tuned / "trials" / f"trial-000{i}" / "run") for i in (0, 1)]
    assert run_app(["compare", *runs, "--out", str(tmp_path / "cmp")]) == 0
    table = pd.read_csv(tmp_path / "cmp" / "comparison.csv")
    assert table["variant"].tolist() == ["trial-0000/run", "trial-0001/run"]  # same folder names: two parts
    assert table["mcnemar_p"].notna().sum() == 1
    assert (tmp_path / "cmp" / "plots" / "curves_val_loss.png").is_file()


def test_bad_space_exits_2_naming_the_key(phantom_data: Path, tmp_path: Path, capsys) -> None:
    space = tmp_path / "space.yaml"
    space.write_text("optim.lrr: {type: float, low: 0.001, high: 0.1}\n")
    out = tmp_path / "out"
    assert run_app(["tune", "--space", str(space), "--data", str(phantom_data), "--out", str(out)]) == 2
    error = " ".join(capsys.readouterr().err.split())
    assert "optim.lrr" in error and "unknown key" in error
    assert not out.exists()


def test_compare_needs_run_folders_or_a_grid(tmp_path: Path, capsys) -> None:
    assert run_app(["compare", "--out", str(tmp_path / "x")]) == 2
    assert "--experiments GRID.yaml" in capsys.readouterr().err
