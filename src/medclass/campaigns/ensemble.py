"""The pieces of ``medclass ensemble``: members on one test split and McNemar's test of the ensemble against each
member (the same pairing as :mod:`medclass.campaigns.comparison`); the ensemble is scored by
:func:`medclass.assessment.scoring.score_run_test_split`."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medclass.campaigns.comparison import load_finished_run, paired_correct
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
    """Refuse members tested on different images or with different labels.

    Raises:
        DataError: naming both runs and an image in one test split only.
    """
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
