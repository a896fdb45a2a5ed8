"""``medclass evaluate``: score a trained model on its own test split or on a labelled folder.

The metrics JSON holds the plain metrics at the model's decision rule (argmax, or the stored threshold),
``ci`` (stratified bootstrap 95% intervals), ``ece`` and ``calibration``; for binary models with a threshold
also ``at_0.5`` and ``at_threshold`` (the metrics at both thresholds) and ``operating_point`` (how the
threshold was chosen, always on the validation split). When the images' groups (patients) are known (the
``group`` column of splits.csv or of a CSV given as ``--data``), the CIs resample groups and ``by_group`` holds
the patient-level metrics. ``--mc-dropout N`` adds ``referral``. A multi-label model gets the JSON of
``test_metrics.json`` (with ``tta`` and, with ``--mc-dropout N``, ``referral``: macro AUROC and mAP after
referring the most uncertain images). Without ``--out`` the JSON goes to
``RUN_DIR/evaluations/<name>.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from medclass.assessment.multilabel import score_labelled_labels
from medclass.assessment.referral import referral_evaluation
from medclass.assessment.scoring import score_labelled
from medclass.assessment.validation import choose_on_val, run_val_scores
from medclass.evaluation.metrics import classification_report_text
from medclass.inference.decision import Decision
from medclass.inference.runner import Predictor
from medclass.reporting.console_summary import print_metrics_summary
from medclass.runs import EVALUATIONS_DIR, prepare_output_file, resolve_checkpoint, run_dir_of
from medclass.training.describe import fmt
from medclass.utils.console import default_console
from medclass.utils.errors import ConfigError, RunDirError
from medclass.utils.io import write_json

__all__ = ["default_output", "describe_threshold", "evaluate", "referral_evaluation"]


def default_output(source: str | Path, data: str | Path | None, split: str, epoch: int | None) -> Path | None:
    """``RUN_DIR/evaluations/<name>.json`` (``<split>`` or the data folder's name, ``_epochNN``), numbered
    ``-2``, ``-3``, ... rather than replacing an earlier one; None for a checkpoint outside a run folder."""
    try:
        folder = run_dir_of(source) / EVALUATIONS_DIR
    except RunDirError:
        return None
    name = split if data is None else Path(data).stem or "data"
    if epoch is not None:
        name += f"_epoch{epoch:02d}"
    path, number = folder / f"{name}.json", 1
    while path.exists():
        number += 1
        path = folder / f"{name}-{number}.json"
    return path


def evaluate(
    source: str | Path,
    data: str | Path | None = None,
    split: str = "test",
    epoch: int | None = None,
    out: str | Path | None = None,
    bootstrap: int | None = None,
    operating_point: str | None = None,
    mc_dropout: int | None = None,
    tta: int = 0,
    console: Console | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Evaluate a checkpoint (or a run folder's best or ``epoch`` checkpoint).

    Args:
        source: run folder or checkpoint file.
        data: a labelled data set (any layout); default: the run's own ``split`` rows.
        split: which split of the run to use when ``data`` is not given.
        epoch: evaluate ``checkpoints/epoch=NN.ckpt`` of the run instead of the best.
        out: write the metrics JSON here (default: ``RUN_DIR/evaluations/<split or data name>.json``, never
            replacing an earlier one).
        bootstrap: bootstrap resamples for CIs (default: the run config's ``evaluation.bootstrap``).
        operating_point: binary only: choose a threshold with this rule (``youden``, ``sensitivity=0.95``,
            ``specificity=0.9``) on the run's validation split and report the metrics at it and at 0.5. The
            checkpoint is not changed.
        mc_dropout: also report accuracy (multi-label: macro AUROC and mAP) after referring the most uncertain
            10% / 20% of images, from this many Monte-Carlo dropout passes (under ``referral``; see
            :func:`referral_evaluation`).
        tta: N > 0: score the mean probability of N test-time augmented views (the first is the image
            itself, then flips and small shifts; see :meth:`Predictor.predict_cached`; multi-label: the mean
            of each label's sigmoid probability), recorded as ``tta``.
        console: where the text report goes.
        overwrite: replace ``out`` when it exists (otherwise that is an error, checked before any work).

    Returns:
        The metrics dict (as written to ``out``).

    Raises:
        ConfigError: a bad operating-point rule, or one for a model that is not binary; MC dropout of a
            model without dropout.
        RunDirError, DataError: missing checkpoint, split or data (named).
    """
    console = console or default_console()
    if out is not None:
        prepare_output_file(out, overwrite=overwrite)
    else:
        out = default_output(source, data, split, epoch)
    checkpoint = resolve_checkpoint(source, epoch)
    predictor = Predictor.load(checkpoint)
    predictor.check_mc_dropout(mc_dropout or 0)  # before any work: a model without dropout is refused
    if predictor.meta.is_multilabel:
        if operating_point:
            raise ConfigError(
                "--operating-point: not available for multi-label models yet (each label's threshold was "
                "chosen on val with evaluation.operating_point at training)"
            )
        metrics = score_labelled_labels(source, checkpoint, predictor, data, split, bootstrap, tta)
        if mc_dropout is not None:
            metrics["referral"] = referral_evaluation(source, data, split, mc_dropout, epoch=epoch)
        return finish_label_evaluation(metrics, out, console)
    meta = predictor.meta
    decision = meta.decision
    val = run_val_scores(source, predictor)
    if operating_point:
        decision = choose_on_val(source, predictor, operating_point, val, decision.positive_class)
        predictor.meta = meta = meta.with_decision(decision)
    metrics, result, y_true = score_labelled(
        source, checkpoint, predictor, data, split, decision, val, bootstrap, tta
    )
    if mc_dropout is not None:
        metrics["referral"] = referral_evaluation(source, data, split, mc_dropout, epoch=epoch)
    print_metrics_summary(metrics, console)
    console.print(classification_report_text(y_true, result.probs, meta.classes, decision.threshold))
    describe_threshold(decision, metrics, console)
    if result.failures:
        console.print(f"[yellow]{len(result.failures)} unreadable file(s) skipped[/]")
    return _write_metrics(metrics, out, console)


def finish_label_evaluation(metrics: dict[str, Any], out: Path | None, console: Console) -> dict[str, Any]:
    """Print a multi-label evaluation's headline figures and write its JSON to ``out``."""
    per_label = "  ".join(f"{name} {fmt(b['auroc']['value'])}" for name, b in metrics["per_label"].items())
    console.print(
        f"macro AUROC {fmt(metrics['macro_auroc']['value'])}  micro AUROC {fmt(metrics['micro_auroc']['value'])}  "
        f"mAP {fmt(metrics['map']['value'])}  per-label AUROC {per_label}  (n={metrics['n']})"
    )
    referral = metrics.get("referral")
    if referral:
        kept = "  ".join(
            f"{p['fraction']:.0%} referred: macro AUROC {fmt(p['macro_auroc'])} mAP {fmt(p['map'])}"
            for p in referral["points"]
        )
        console.print(f"MC dropout ({referral['passes']} passes, mean binary entropy)  {kept}")
    if metrics["skipped"]:
        console.print(f"[yellow]{len(metrics['skipped'])} unreadable file(s) skipped[/]")
    return _write_metrics(metrics, out, console)


def describe_threshold(decision: Decision, metrics: dict[str, Any], console: Console) -> None:
    """Print the threshold, how it was chosen, and the accuracy at it and at 0.5 (binary with a rule)."""
    if decision.rule is None:
        return
    console.print(
        f"threshold {decision.threshold:.4f} ({decision.rule}, chosen on val: sensitivity "
        f"{decision.sensitivity:.3f}, specificity {decision.specificity:.3f}); accuracy at 0.5 "
        f"{metrics['at_0.5']['accuracy']:.4f}, at the threshold {metrics['at_threshold']['accuracy']:.4f}"
    )


def _write_metrics(metrics: dict[str, Any], out: Path | None, console: Console) -> dict[str, Any]:
    """Write ``metrics`` to ``out`` (the run's evaluations/ file) and say where; a checkpoint outside a run
    folder has no place for them unless ``--out`` names one."""
    if out is not None:
        prepare_output_file(out, overwrite=True)
        write_json(out, metrics)
        console.print(f"metrics written to {out}")
    else:
        console.print("metrics not written (a checkpoint outside a run folder): give --out FILE.json")
    return metrics
