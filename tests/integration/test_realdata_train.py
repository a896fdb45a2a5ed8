"""Training on the real binary brain MRI set end to end (skips when the shared data sets are absent)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from medclass.api import evaluate, train
from medclass.config import build_config, load_config

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


@pytest.mark.slow
@pytest.mark.realdata
def test_default_resnet18_learns_the_four_tumour_types(shared_datasets: Path, tmp_path: Path) -> None:
    # The default path (ResNet-18 from scratch, default split, augmentation, optimiser and schedule) on the
    # first 120 images of each class of the 4-class set, shrunk to 64 px and a few epochs to stay fast.
    root = shared_datasets / "brain_tumor_mri_4class" / "Training"
    rows = [
        {"path": str(path), "label": folder.name}
        for folder in sorted(p for p in root.iterdir() if p.is_dir())
        for path in sorted(folder.glob("*.jpg"))[:120]
    ]
    manifest = tmp_path / "subset.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    overrides = [
        "data.image_size=64",
        "trainer.epochs=4",
        "trainer.progress_bar=false",
        "evaluation.report=false",
        "model.pretrained=false",
    ]
    config = build_config({}, overrides, {"data.path": str(manifest), "out": str(tmp_path / "run")})
    assert (config.model.name, config.model.pretrained) == ("resnet18", False)
    result = train(config)
    metrics = json.loads((result.run_dir / "test_metrics.json").read_text())
    assert metrics["classes"] == ["glioma", "meningioma", "notumor", "pituitary"]
    # Chance: always answering the largest test class (about 0.28). The whole 95% CI of the accuracy lies
    # above it; this run reaches about 0.76 on 72 test images (CI about 0.65-0.85).
    support = [metrics["per_class"][c]["support"] for c in metrics["classes"]]
    chance = max(support) / sum(support)
    ci = metrics["ci"]["accuracy"]
    assert ci["ci_low"] <= metrics["accuracy"] <= ci["ci_high"]
    assert ci["ci_low"] > chance, (metrics["accuracy"], ci, chance)
