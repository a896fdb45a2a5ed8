"""Training on the real binary brain MRI set end to end (skips when the shared data sets are absent)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from medclass.api import evaluate, train
from medclass.config import load_config

EXAMPLE = Path(__file__).parents[2] / "examples" / "protocols" / "brain_mri_yesno_cnn.yaml"


@pytest.mark.slow
@pytest.mark.realdata
def test_yes_no_cnn_learns_and_reports_clinical_metrics(shared_datasets: Path, tmp_path: Path) -> None:
    # The example config, shrunk to 64 px and a few epochs so that it fits in the test budget.
    config = load_config(
        EXAMPLE,
        overrides=[
            "data.image_size=64",
            "trainer.epochs=10",
            "trainer.progress_bar=false",
            "evaluation.bootstrap=200",
        ],
        values={"data.path": str(shared_datasets / "brain_mri_yesno"), "out": str(tmp_path / "run")},
    )
    result = train(config)
    metrics = json.loads((result.run_dir / "test_metrics.json").read_text())
    assert metrics["classes"] == ["no", "yes"]
    assert metrics["n"] >= 45  # 20% of 253 images, plus duplicates that joined their test copies
    for name in ("no", "yes"):
        assert {"sensitivity", "specificity", "support"} <= set(metrics["per_class"][name])
    # A from-scratch CNN learns the task: chance is 0.5 (about +-0.08 on 51 images); this run reaches ~0.74.
    assert metrics["auroc"] > 0.65, metrics["auroc"]
    assert metrics["ci"]["auroc"]["ci_low"] <= metrics["auroc"] <= metrics["ci"]["auroc"]["ci_high"]

    # Duplicate groups (22 of identical files in this set) never straddle train and test.
    report = json.loads((result.run_dir / "data_report.json").read_text())
    assert report["duplicates"]["exact"]["groups"] == 22
    assert report["duplicates"]["exact"]["split_leaks"] == 0
    splits = pd.read_csv(result.run_dir / "splits.csv")
    assert set(splits["split"]) == {"train", "val", "test"}

    # The saved checkpoint alone reproduces the test figures.
    again = evaluate(result.run_dir, bootstrap=0)
    assert again["accuracy"] == pytest.approx(metrics["accuracy"])
