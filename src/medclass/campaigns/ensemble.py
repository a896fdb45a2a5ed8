"""The pieces of ``medclass ensemble``: members on one test split and McNemar's test of the ensemble against each
member (the same pairing as :mod:`medclass.campaigns.comparison`), or for multi-label members DeLong's test per
label (as :mod:`medclass.campaigns.label_comparison`); the ensemble is scored by
:func:`medclass.assessment.scoring.score_run_test_split` (multi-label: :mod:`medclass.assessment.label_ensemble`)."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medclass.campaigns.comparison import load_finished_run, paired_correct
from medclass.campaigns.label_comparison import all_multilabel, paired_label_tests, run_labels
from medclass.evaluation.stats import mcnemar_test
from medclass.runs import (
    CONFIG_FILE,
    DATA_REPORT_FILE,
    SPLITS_FILE,
    RunFiles,
    load_run,
)

# What the ensemble folder takes over from its first member, so that evaluate, predict and report find the
# split, the data and the settings as in a run folder.
COPIED_FILES = (CONFIG_FILE, SPLITS_FILE, DATA_REPORT_FILE)


def load_members(run_dirs: Sequence[str | Path]) -> list[RunFiles]:
    """The member runs, checked to be finished with a test split.

    Raises:
        RunDirError: a run without test results (the missing file named).
    """
    return [load_finished_run(d) for d in run_dirs]


def check_same_test_split(runs: Sequence[RunFiles]) -> None:
    """Refuse members tested on different images or with different labels (and a mix of single- and multi-label
    runs).

    Raises:
        DataError: naming both runs and an image in one test split only; ConfigError: both task types.
    """
    if all_multilabel(runs, "ensemble"):
        labels = run_labels(runs)
        for other in runs[1:]:
            paired_label_tests(runs[0], other, labels)
        return
    for other in runs[1:]:
        paired_correct(runs[0], other)


def copy_run_files(source: Path, out_dir: Path) -> None:
    """Copy the first member's config, splits and data report into the ensemble folder."""
    for name in COPIED_FILES:
        if (source / name).is_file():
            shutil.copyfile(source / name, out_dir / name)


def against_members(out_dir: Path, members: Sequence[RunFiles]) -> list[dict[str, Any]]:
    """McNemar's test of the ensemble against each member on the shared test images, with both accuracies."""
    ensemble = load_run(out_dir)
    rows = []
    for member in members:
        ours, theirs = paired_correct(ensemble, member)
        rows.append(
            {
                "run": str(member.run_dir),
                "member_accuracy": float(np.mean(theirs)),
                "ensemble_accuracy": float(np.mean(ours)),
                "mcnemar": mcnemar_test(ours, theirs),
            }
        )
    return rows


def members_table(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The rows of :func:`against_members` as a flat table (one row per member)."""
    return pd.DataFrame(
        [
            {
                "run": r["run"],
                "member_accuracy": r["member_accuracy"],
                "ensemble_accuracy": r["ensemble_accuracy"],
                "ensemble_right_member_wrong": r["mcnemar"]["b"],
                "ensemble_wrong_member_right": r["mcnemar"]["c"],
                "p_value": r["mcnemar"]["p_value"],
            }
            for r in rows
        ]
    )


def against_members_per_label(out_dir: Path, members: Sequence[RunFiles]) -> list[dict[str, Any]]:
    """DeLong's test of the multi-label ensemble against each member, label by label, on the shared test images:
    per member its macro AUROC beside the ensemble's and ``per_label: {label: {"ensemble_auroc",
    "member_auroc", "difference" (ensemble - member), "ci_low", "ci_high", "p_value"}}`` (None for a label
    without known positives or negatives)."""
    ensemble = load_run(out_dir)
    labels = list(ensemble.test_metrics["labels"])
    rows = []
    for member in members:
        tests = paired_label_tests(ensemble, member, labels)
        rows.append(
            {
                "run": str(member.run_dir),
                "member_macro_auroc": member.test_metrics["macro_auroc"]["value"],
                "ensemble_macro_auroc": ensemble.test_metrics["macro_auroc"]["value"],
                "per_label": {
                    name: None
                    if test is None
                    else {
                        "ensemble_auroc": test["auroc_a"],
                        "member_auroc": test["auroc_b"],
                        "difference": test["difference"],
                        "ci_low": test["ci_low"],
                        "ci_high": test["ci_high"],
                        "p_value": test["p_value"],
                    }
                    for name, test in tests.items()
                },
            }
        )
    return rows


def members_label_table(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The rows of :func:`against_members_per_label` as a flat table (one row per member and label)."""
    return pd.DataFrame(
        [
            {"run": r["run"], "label": name, **(test or {})}
            for r in rows
            for name, test in r["per_label"].items()
        ]
    )
