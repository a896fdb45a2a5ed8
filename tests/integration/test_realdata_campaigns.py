"""The example campaigns' quick settings on the real binary brain MRI set, through the CLI, as a user runs them."""

from __future__ import annotations

from pathlib import Path

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
    text = (out / "comparison.md").read_text()
    assert "McNemar" in text and "[" in text  # p-values and bootstrap intervals in the table
