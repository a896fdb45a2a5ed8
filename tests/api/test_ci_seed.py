"""train's test evaluation and evaluate give the same 95% CIs for the same model and split (one seed rule)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from medclass.api import evaluate
from medclass.evaluation.bootstrap import BOOTSTRAP_SEED
from medclass.runs import CONFIG_FILE, TEST_METRICS_FILE


def test_train_and_evaluate_report_the_same_cis(trained_run: Path, tmp_path: Path) -> None:
    trained = json.loads((trained_run / TEST_METRICS_FILE).read_text())
    evaluated = evaluate(trained_run, split="test", out=tmp_path / "test.json")
    assert trained["ci"]["seed"] == evaluated["ci"]["seed"] == BOOTSTRAP_SEED
    assert trained["ci"]["n_resamples"] == evaluated["ci"]["n_resamples"] == 50
    assert evaluated["ci"] == trained["ci"]
    # Not the run's own seed (3 in the fast config): that would make train's intervals differ.
    assert yaml.safe_load((trained_run / CONFIG_FILE).read_text())["seed"] != BOOTSTRAP_SEED
