"""``medclass ensemble``: average the calibrated probabilities of finished runs into one run-like folder.

Output folder (``evaluate``, ``predict``, ``report``, ``export`` and ``serve`` take it like a run folder)::

    checkpoints/best.ckpt   the ensemble as one model (medclass.inference.ensemble.EnsembleModel)
    test_metrics.json       the ensemble on the members' shared test split, with bootstrap CIs
    predictions_test.csv    its test predictions
    ensemble.json           the members and McNemar's test of the ensemble against each
    ensemble_members.csv    the same as a table
    config.yaml, splits.csv, data_report.json   taken over from the first member
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from medclass.assessment.scoring import score_run_test_split
from medclass.campaigns.ensemble import (
    against_members,
    check_same_test_split,
    copy_run_files,
    load_members,
    members_table,
)
from medclass.inference.ensemble import combine, save_ensemble
from medclass.inference.runner import Predictor
from medclass.runs import TEST_METRICS_FILE, RunLayout, prepare_output_dir
from medclass.runs.campaign_layout import ENSEMBLE_KIND, ENSEMBLE_MEMBERS_FILE
from medclass.runs.layout import ENSEMBLE_FILE
from medclass.utils.console import default_console
from medclass.utils.io import write_json


@dataclass
class EnsembleResult:
    """Where the ensemble went and how it scored."""

    out_dir: Path
    test_metrics: dict[str, Any]
    members: list[dict[str, Any]]


def ensemble(
    run_dirs: Sequence[str | Path], out: str | Path, overwrite: bool = False, console: Console | None = None
) -> EnsembleResult:
    """Average the calibrated probabilities of ``run_dirs`` and evaluate the ensemble on their test split.

    Raises:
        ConfigError: fewer than two runs, or runs of different preprocessing; DataError: different classes or
        test splits; RunDirError: an unfinished run, or an output folder that may not be written.
    """
    console = console or default_console()
    members = load_members(run_dirs)
    predictors = [Predictor.load(run.run_dir) for run in members]
    for predictor in predictors:
        predictor.meta.require_single_label("ensemble")
    model, meta = combine([(p.model.cpu(), p.meta) for p in predictors], [str(r.run_dir) for r in members])
    check_same_test_split(members)
    out_dir = Path(out)
    prepare_output_dir(out_dir, ENSEMBLE_KIND, overwrite=overwrite)
    save_ensemble(RunLayout(out_dir).best_checkpoint, model, meta)
    copy_run_files(members[0].run_dir, out_dir)
    evaluation = members[0].config.get("evaluation", {})
    predictor = Predictor.load(out_dir)
    metrics = score_run_test_split(predictor, out_dir, evaluation.get("bootstrap", 1000))
    metrics.update(
        checkpoint=str(RunLayout(out_dir).best_checkpoint), ensemble=[str(r.run_dir) for r in members]
    )
    write_json(out_dir / TEST_METRICS_FILE, metrics)
    rows = against_members(out_dir, members)
    write_json(out_dir / ENSEMBLE_FILE, {"members": rows, "combine": "mean of calibrated probabilities"})
    table = members_table(rows)
    table.to_csv(out_dir / ENSEMBLE_MEMBERS_FILE, index=False, float_format="%.6g")
    console.print(
        f"[bold]ensemble of {len(members)}[/] test accuracy {metrics['accuracy']:.4f}  macro-F1 "
        f"{metrics['macro_f1']:.4f}  (n={metrics['n']})"
    )
    console.print(table.to_string(index=False), markup=False, highlight=False)
    console.print(f"results in {out_dir}")
    return EnsembleResult(out_dir, metrics, rows)
