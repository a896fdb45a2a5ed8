"""The example campaigns' quick settings on the real binary brain MRI set, through the CLI, as a user runs them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medclass.cli.app import run_app
from medclass.config import load_config

CAMPAIGNS = Path(__file__).parents[2] / "examples" / "campaigns"


@pytest.mark.slow
@pytest.mark.realdata
def test_cnn_shape_search_with_3_fold_cv(shared_datasets: Path, tmp_path: Path) -> None:
    out = tmp_path / "tune"
    code = run_app(
        ["tune", "--config", str(CAMPAIGNS / "cnn_shapes_random_search.yaml"),
         "--space", str(CAMPAIGNS / "cnn_shapes_random_search.quick.space.yaml"),
         "--sampler", "random", "--folds", "3", "--trials", "2", "--image-size", "64",
         "--data", str(shared_datasets / "brain_mri_yesno"), "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 2 and set(trials["state"]) <= {"COMPLETE", "PRUNED"}
    best = load_config(out / "best.yaml")
    assert best.data.image_size == 64 and best.model.name == "cnn"
    assert any((out / "plots").glob("*.png"))
    check_three_folds_ran(out, trials)


def check_three_folds_ran(out: Path, trials: pd.DataFrame) -> None:
    """Each finished trial trained 3 folds: a finite score per fold, their mean, and a run folder per fold."""
    folds = [f"fold{k}_best" for k in range(3)]
    assert {*folds, "mean_best", "std_best"} <= set(trials.columns), list(trials.columns)
    complete = trials[trials["state"] == "COMPLETE"]
    assert len(complete) >= 1
    for _, trial in complete.iterrows():
        scores = trial[folds].astype(float).to_numpy()
        assert np.isfinite(scores).all(), trial
        assert trial["mean_best"] == pytest.approx(scores.mean(), rel=1e-4)
        folder = out / "trials" / f"trial-{int(trial['number']):04d}"
        assert sorted(p.name for p in folder.glob("fold-*")) == ["fold-0", "fold-1", "fold-2"]


@pytest.mark.slow
@pytest.mark.realdata
def test_five_variant_comparison(shared_datasets: Path, tmp_path: Path) -> None:
    out = tmp_path / "compare"
    code = run_app(
        ["compare", "--experiments", str(CAMPAIGNS / "xray_five_variants.yaml"),
         "--data", str(shared_datasets / "brain_mri_yesno"), "--out", str(out),
         "--set", "data.image_size=64", "--set", "data.batch_size=16", "--set", "trainer.epochs=1",
         "--set", "checkpoint.every_epoch=false", "--set", "evaluation.bootstrap=200"]
    )  # fmt: skip
    assert code == 0
    table = pd.read_csv(out / "comparison.csv")
    assert len(table) == 5
    assert {"baseline", "l2_penalty", "dropout_head", "sharpness", "contrast"} == set(table["variant"])
    check_comparison_table(table)


def check_comparison_table(table: pd.DataFrame) -> None:
    """Every variant tested on the same images, with ordered CIs and a finite McNemar p against the best."""
    assert table["n_test"].nunique() == 1 and table["n_test"].iloc[0] >= 45, table["n_test"]
    for metric in ("accuracy", "macro_f1", "auroc"):
        low, high = table[f"{metric}_ci_low"].astype(float), table[f"{metric}_ci_high"].astype(float)
        assert ((low <= table[metric]) & (table[metric] <= high) & (low < high)).all(), metric
    p = pd.to_numeric(table["mcnemar_p"], errors="coerce")
    others = p.notna()
    assert others.sum() >= len(table) - 1  # every variant but (at most) the best itself
    assert ((p[others] >= 0) & (p[others] <= 1)).all(), p
