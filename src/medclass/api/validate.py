"""``medclass validate``: the frozen model of a run scored on its own test split and on external sites, with
subgroups, decision curves and sample size, written to a validation folder (``validation.json``, figures).

Orchestration only: the plan is checked (sites, classes, subgroup columns) before the output folder is claimed;
a start that fails before ``validation.json`` is written removes the folder it created.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from medclass import __version__
from medclass.assessment.label_validation import label_validation_results
from medclass.assessment.shortcuts import screen_shortcuts
from medclass.assessment.site_validation import ValidationPlan, plan_validation, validation_results
from medclass.evaluation.bootstrap import BOOTSTRAP_SEED
from medclass.explain.model_maps import default_class_maps
from medclass.inference.runner import Predictor
from medclass.reporting.dossier import checklist_status, write_dossier
from medclass.reporting.label_validation_figures import plot_label_roc_by_site
from medclass.reporting.plots_validation import write_validation_figures
from medclass.runs import (
    SPLITS_FILE,
    check_output_dir,
    prepare_output_dir,
    removed_if_unstarted,
    resolve_checkpoint,
)
from medclass.runs.validation_layout import (
    LABEL_ROC_FIGURE,
    VALIDATION_KIND,
    ValidationLayout,
    default_validation_dir,
)
from medclass.utils.console import default_console
from medclass.utils.errors import RunDirError
from medclass.utils.io import write_json

__all__ = ["validate"]

# validation.json's own version: bumped when a key changes meaning (docs/validation.md lists the keys).
VALIDATION_FORMAT = 1


def validate(
    run_dir: str | Path,
    external: Sequence[str] = (),
    subgroups: Sequence[str] = (),
    out: str | Path | None = None,
    overwrite: bool = False,
    bootstrap: int | None = None,
    shortcuts: bool = True,
    console: Console | None = None,
) -> dict[str, Any]:
    """Validate a trained run: internal test split and external sites, subgroups, decision curves, sample size.

    A multi-label run is validated label by label (``task``, ``labels``, ``label_sites``, ``label_transfer``,
    ``label_subgroups``; the single-label sections it has no meaning for are null, with the reason in
    ``not_for_multilabel``).

    Args:
        run_dir: the run folder (its best checkpoint, with the stored preprocessing, temperature and threshold).
        external: ``NAME=DATA`` items: DATA is a labelled folder (any layout medclass reads) or a CSV manifest.
        subgroups: manifest column names, or CSV files mapping ``path`` to columns (all their columns are used).
        out: the output folder (default: a new ``RUN_DIR/validation``, ``validation-2``, ...).
        overwrite: replace ``out`` when it holds an earlier validation (never a folder medclass did not write).
        bootstrap: resamples for the CIs (default: the run config's ``evaluation.bootstrap``).
        shortcuts: run the shortcut screens on the run's test split (``shortcuts`` is null without them).
        console: where progress and the summary go.

    Returns:
        The dict written as ``validation.json`` (keys in docs/validation.md).

    Raises:
        RunDirError: not a run folder, or ``out`` may not be written.
        ConfigError, DataError: a malformed ``--external``, a set with classes the model does not know (a
            multi-label model: a set that is not a multi-label manifest or npz, a label the model does not know,
            a label column missing), a subgroup column no manifest holds, unreadable sets (each named).
    """
    console = console or default_console()
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or not (run_dir / SPLITS_FILE).is_file():
        raise RunDirError(f"{run_dir}: not a medclass run folder (expected a folder with {SPLITS_FILE})")
    target = Path(out) if out is not None else default_validation_dir(run_dir)
    check_output_dir(target, VALIDATION_KIND, overwrite=overwrite)
    checkpoint = resolve_checkpoint(run_dir)
    predictor = Predictor.load(checkpoint)
    multilabel = predictor.meta.is_multilabel
    plan = plan_validation(run_dir, predictor, external, subgroups)  # before the folder is claimed
    if bootstrap is None:
        bootstrap = int(predictor.meta.config.get("evaluation", {}).get("bootstrap", 1000))
    claimed = prepare_output_dir(target, VALIDATION_KIND, overwrite=overwrite, protected=plan.data_folders)
    layout = ValidationLayout(claimed.path)
    with removed_if_unstarted(
        claimed,
        lambda path: ValidationLayout(path).results.is_file(),
        console.print,
        "validate did not finish",
    ):
        names = ", ".join(f"{s.name} ({len(s.paths)} images)" for s in plan.sites)
        console.print(f"validating {run_dir} on {names}")
        screens = None
        if multilabel:
            results, sites = label_validation_results(plan, predictor, bootstrap, layout)
            figures = {
                "label_roc": plot_label_roc_by_site(
                    results["labels"],
                    {site.name: (site.truth, site.result.probs) for site in sites},
                    predictor.meta.multilabel.thresholds,
                    layout.figure(LABEL_ROC_FIGURE),
                )
            }
            if shortcuts:
                console.print("the shortcut screens are single-label only: skipped (see not_for_multilabel)")
        else:
            results, _ = validation_results(plan, predictor, bootstrap, layout)
            figures = write_validation_figures(results, layout.figures)
        if shortcuts and not multilabel:
            console.print("screening for shortcuts (metadata, masked anatomy, explanation outside the body)")
            screens = _shortcuts(plan, predictor, layout, bootstrap)
        validation = {
            "format": VALIDATION_FORMAT,
            "medclass_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "run": str(run_dir),
            "checkpoint": str(checkpoint),
            "classes": list(predictor.classes),
            "decision": None if multilabel else _decision_block(predictor),
            "bootstrap": bootstrap,
            **results,
            "shortcuts": screens,
            "figures": {name: layout.relative(path) for name, path in figures.items()},
            "predictions": layout.relative(layout.predictions),
        }
        write_json(layout.results, validation)  # first: the dossier cites it
        write_dossier(run_dir, layout.root, validation)  # before the status: it draws the flow figure cited
        validation["checklists"] = checklist_status(run_dir, layout.root, validation)
        write_json(layout.results, validation)
    (_print_label_summary if multilabel else _print_summary)(validation, layout, console)
    return validation


def _shortcuts(
    plan: ValidationPlan, predictor: Predictor, layout: ValidationLayout, bootstrap: int
) -> dict[str, Any]:
    """The shortcut screens on the run's own data (its test split; without one, every external image), their
    figures in ``figures/`` and named relative to the folder."""
    internal = [s for s in plan.sites if s.internal] or plan.sites
    files = [p for s in internal for p in s.paths]
    labels = [label for s in internal for label in s.labels]
    screens = screen_shortcuts(
        predictor,
        files,
        labels,
        predictor.classes,
        layout.figures,
        seed=BOOTSTRAP_SEED,
        class_maps=default_class_maps,
        n_resamples=bootstrap,
    )
    screens["data"] = [s.name for s in internal]
    for screen in screens.values():
        if isinstance(screen, dict) and screen.get("figure"):
            screen["figure"] = layout.relative(layout.figure(screen["figure"]))
    return screens


def _decision_block(predictor: Predictor) -> dict[str, Any]:
    """The frozen decision every site was scored at: threshold, positive class, temperature, how chosen."""
    decision = predictor.meta.decision
    return {
        "threshold": decision.threshold,
        "positive_class": decision.positive_class,
        "temperature": decision.temperature,
        "operating_point": decision.operating_point(),
    }


def _print_summary(validation: dict[str, Any], layout: ValidationLayout, console: Console) -> None:
    """The sites' accuracy, what transfers and breaks, heterogeneity and subgroup warnings, in a few lines."""
    for name, site in validation["external"].items():
        acc = site["metrics"]["accuracy"]
        ci = "" if acc["ci_low"] is None else f" (95% CI {acc['ci_low']:.3f}-{acc['ci_high']:.3f})"
        slope = site["calibration"]["slope"]
        slope_text = "" if slope is None else f", calibration slope {slope:.2f}"
        console.print(
            f"  {name}: n={site['n']}, accuracy {acc['value']:.3f}{ci}, ECE {site['calibration']['ece']:.3f}{slope_text}"
        )
    for line in validation["transfer"]["summary"]:
        console.print(f"  {line}")
    for measure in ("accuracy", "sensitivity", "specificity"):
        pooled = (validation["heterogeneity"] or {}).get(measure)
        if pooled:
            console.print(f"  {pooled['text']}")
    for line in validation["warnings"]:
        console.print(f"[yellow]  {line}[/]")
    for analysis in ((validation["subgroups"] or {}).get("columns") or {}).values():
        if analysis["largest_gap"]:
            console.print(f"  {analysis['largest_gap']['text']}")
        for line in analysis["warnings"]:
            console.print(f"[yellow]  {line}[/]")
    for name, screen in (validation["shortcuts"] or {}).items():
        if isinstance(screen, dict) and "verdict" in screen:
            colour = "yellow" if screen.get("flagged") else "default"
            console.print(f"[{colour}]  shortcut screen {name}: {screen['verdict']}[/]")
    console.print(f"validation written to {layout.root} (dossier: {layout.dossier.name})")


def _print_label_summary(validation: dict[str, Any], layout: ValidationLayout, console: Console) -> None:
    """A multi-label validation in a few lines: each site's macro AUROC and mAP, what transfers and breaks,
    subgroup warnings."""
    for name, site in validation["label_sites"].items():
        macro = site["macro_auroc"]
        ci = "" if macro["ci_low"] is None else f" (95% CI {macro['ci_low']:.3f}-{macro['ci_high']:.3f})"
        value = "n/a" if macro["value"] is None else f"{macro['value']:.3f}"
        per_label = ", ".join(
            f"{label} {'n/a' if block['auroc']['value'] is None else format(block['auroc']['value'], '.3f')}"
            for label, block in site["per_label"].items()
        )
        console.print(f"  {name}: n={site['n']}, macro AUROC {value}{ci}; per-label AUROC {per_label}")
    for line in validation["label_transfer"]["summary"]:
        console.print(f"  {line}")
    for line in validation["warnings"]:
        console.print(f"[yellow]  {line}[/]")
    for analysis in ((validation["label_subgroups"] or {}).get("columns") or {}).values():
        for line in analysis["warnings"]:
            console.print(f"[yellow]  {line}[/]")
    console.print(f"validation written to {layout.root} (dossier: {layout.dossier.name})")
