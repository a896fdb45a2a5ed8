"""``medclass ensemble``: average the calibrated probabilities of finished runs into one run-like folder.

Output folder (``evaluate``, ``predict``, ``report``, ``export`` and ``serve`` take it like a run folder)::

    checkpoints/best.ckpt   the ensemble as one model (medclass.inference.ensemble.EnsembleModel)
    test_metrics.json       the ensemble on the members' shared test split, with bootstrap CIs
    predictions_test.csv    its test predictions
    ensemble.json           the members and McNemar's test of the ensemble against each (multi-label members:
                            DeLong's test per label under ``per_label``)
    ensemble_members.csv    the same as a table (multi-label: one row per member and label)
    config.yaml, splits.csv, data_report.json   taken over from the first member
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from medclass.assessment.label_ensemble import (
    fit_run_label_rules,
    members_label_rule,
    score_run_label_test_split,
)
from medclass.assessment.scoring import score_run_test_split
from medclass.campaigns.ensemble import (
    against_members,
    against_members_per_label,
    check_same_test_split,
    copy_run_files,
    load_members,
    members_label_table,
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

    Multi-label runs (all or none): the mean of their per-label sigmoid probabilities, with per-label thresholds
    chosen on val by the members' rule, scored like a multi-label test split and tested against each member
    label by label (DeLong's test).

    Raises:
        ConfigError: fewer than two runs, runs of different preprocessing or task types, or multi-label runs
        whose thresholds were chosen by different rules; DataError: different classes or test splits;
        RunDirError: an unfinished run, or an output folder that may not be written.
    """
    console = console or default_console()
    members = load_members(run_dirs)
    predictors = [Predictor.load(run.run_dir) for run in members]
    sources = [str(r.run_dir) for r in members]
    model, meta = combine([(p.model.cpu(), p.meta) for p in predictors], sources)
    check_same_test_split(members)
    multilabel = meta.is_multilabel
    rule = members_label_rule([p.meta for p in predictors], sources) if multilabel else None
    out_dir = Path(out)
    prepare_output_dir(out_dir, ENSEMBLE_KIND, overwrite=overwrite)
    checkpoint = RunLayout(out_dir).best_checkpoint
    save_ensemble(checkpoint, model, meta)
    copy_run_files(members[0].run_dir, out_dir)
    bootstrap = members[0].config.get("evaluation", {}).get("bootstrap", 1000)
    predictor = Predictor.load(out_dir)
    if rule is not None:
        save_ensemble(checkpoint, model, meta.with_multilabel(fit_run_label_rules(predictor, out_dir, rule)))
        predictor = Predictor.load(out_dir)
        metrics = score_run_label_test_split(predictor, out_dir, bootstrap)
    else:
        metrics = score_run_test_split(predictor, out_dir, bootstrap)
    metrics.update(checkpoint=str(checkpoint), ensemble=sources)
    write_json(out_dir / TEST_METRICS_FILE, metrics)
    if multilabel:
        rows = against_members_per_label(out_dir, members)
        combined, table = "mean of per-label sigmoid probabilities", members_label_table(rows)
        summary = f"test macro AUROC {metrics['macro_auroc']['value']:.4f}  mAP {metrics['map']['value']:.4f}"
    else:
        rows = against_members(out_dir, members)
        combined, table = "mean of calibrated probabilities", members_table(rows)
        summary = f"test accuracy {metrics['accuracy']:.4f}  macro-F1 {metrics['macro_f1']:.4f}"
    write_json(out_dir / ENSEMBLE_FILE, {"members": rows, "combine": combined})
    table.to_csv(out_dir / ENSEMBLE_MEMBERS_FILE, index=False, float_format="%.6g")
    console.print(f"[bold]ensemble of {len(members)}[/] {summary}  (n={metrics['n']})")
    console.print(table.to_string(index=False), markup=False, highlight=False)
    console.print(f"results in {out_dir}")
    return EnsembleResult(out_dir, metrics, rows)
