"""evaluate: the clinical summary first, patient-level metrics with cluster CIs, the JSON in the run folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
from rich.console import Console

from medclass.api import evaluate


def _copy_with_groups(trained_run: Path, tmp_path: Path) -> Path:
    """The run with a group column: test images of one class paired into patients of two images."""
    run = tmp_path / "grouped"
    shutil.copytree(trained_run, run, ignore=shutil.ignore_patterns("evaluations"))
    table = pd.read_csv(run / "splits.csv")
    rank = table.groupby(["split", "label"]).cumcount() // 2
    table["group"] = table["split"] + "-" + table["label"] + "-" + rank.astype(str)
    table.to_csv(run / "splits.csv", index=False)
    return run


def test_evaluate_prints_the_clinical_summary_and_writes_into_the_run(trained_run: Path, tmp_path: Path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run, ignore=shutil.ignore_patterns("evaluations"))
    console = Console(record=True, width=160)
    metrics = evaluate(run, bootstrap=100, console=console)
    text = console.export_text()
    assert "positive class: tumor" in text and "PPV" in text and "NPV" in text and "ECE" in text
    # A binary run decides by default with Youden's threshold on the positive class, chosen on val.
    threshold = json.loads((run / "test_metrics.json").read_text())["operating_point"]["threshold"]
    rule = f"threshold {threshold:.4g} on P(tumor)"
    assert f"predict uses: {rule}" in text
    assert metrics["positive_class"] == "tumor" and metrics["clinical"]["rule"] == rule
    assert metrics["operating_points"]["rule"] == "youden"
    written = run / "evaluations" / "test.json"
    assert f"metrics written to {written}" in text.replace("\n", "")
    assert json.loads(written.read_text())["clinical"] == metrics["clinical"]
    evaluate(run, bootstrap=0, console=Console(record=True))
    assert (run / "evaluations" / "test-2.json").is_file()  # the first one is kept
    assert json.loads(written.read_text())["clinical"] == metrics["clinical"]


def test_evaluate_with_groups_reports_patients_and_resamples_them(trained_run: Path, tmp_path: Path):
    run = _copy_with_groups(trained_run, tmp_path)
    console = Console(record=True, width=160)
    metrics = evaluate(run, bootstrap=100, console=console)
    n_test = metrics["n"]
    assert metrics["ci"]["unit"] == "group" and metrics["ci"]["n_groups"] == n_test // 2
    assert metrics["by_group"]["n"] == n_test // 2 and metrics["by_group"]["aggregate"] == "mean"
    text = console.export_text()
    assert "patients (mean per group)" in text and "resample the" in text
