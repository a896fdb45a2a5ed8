"""The dossier's facts for a multi-label run (``"task": "multilabel"`` in test_metrics.json and validation.json):
the single-label facts that would say something false of such a model (one class per image, a softmax, an
argmax or one threshold, a confusion matrix, top-label calibration) are replaced by what the run's files say
label by label, or dropped so that the item is left to the authors. Nothing is claimed that the files do not
hold: no cross-tabulation (the run stores no per-label confusion counts), no shortcut screens, no pooling.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medclass.reporting.dossier_common import AUTHORS, BEST_CHECKPOINT, Fact, FactCollector, ci_text
from medclass.runs import (
    CONFIG_FILE,
    DATA_REPORT_FILE,
    METRICS_FILE,
    TEST_METRICS_FILE,
    TEST_PREDICTIONS_FILE,
    RunFiles,
)
from medclass.runs.layout import MARKER_FILE
from medclass.runs.validation_layout import VALIDATION_FILE

# Single-label result facts with no multi-label counterpart in the run's files: left to the authors.
_DROPPED = ("cross_tabulation", "explainability")


def is_multilabel_run(run: RunFiles) -> bool:
    """Whether the run's test_metrics.json is a multi-label one."""
    return (run.test_metrics or {}).get("task") == "multilabel"


def _label_lines(metrics: dict[str, Any]) -> str:
    return "; ".join(
        f"{name}: AUROC {ci_text(block.get('auroc'))}, AP {ci_text(block.get('average_precision'))}, "
        f"sensitivity {ci_text(block.get('sensitivity'))}, specificity {ci_text(block.get('specificity'))} at "
        f"threshold {block.get('threshold', float('nan')):.3f} (positives {block.get('n_positive')} of "
        f"{block.get('n_known')})"
        for name, block in (metrics.get("per_label") or {}).items()
    )


def label_run_facts(facts: FactCollector, run: RunFiles) -> None:
    """The result facts of a multi-label run, and its own texts of the data and model facts that differ."""
    metrics = run.test_metrics or {}
    labels = ", ".join(metrics.get("labels") or run.classes)
    config = run.config or {}
    loss = config.get("loss") or {}
    for name in _DROPPED:
        facts.facts.pop(name, None)
    count = len(metrics.get("labels") or run.classes)
    data, report = config.get("data") or {}, run.data_report or {}
    facts.add(
        "ai_method",
        f"Deep-learning multi-label image classifier (convolutional network `{(config.get('model') or {}).get('name')}`) "
        f"for {count} labels ({labels}), each present or absent on its own, trained and evaluated with medclass.",
        CONFIG_FILE,
        MARKER_FILE,
    )
    facts.add(
        "data_sources",
        f"Images read from `{data.get('path')}` ({report.get('layout', '?')} layout, multi-label manifest)"
        + (f", test images from the separate set `{data['test_path']}`" if data.get("test_path") else "")
        + f": {report.get('n_images')} readable images with {count} labels ({labels}). Institutions, scanners and "
        f"acquisition dates of the images: {AUTHORS}.",
        DATA_REPORT_FILE,
        CONFIG_FILE,
    )
    facts.add(
        "data_elements",
        f"Input: the image pixels only (no clinical variables). Output: for each label ({labels}) its "
        "probability and whether it is present; an image may have several labels or none.",
        CONFIG_FILE,
        TEST_METRICS_FILE,
    )
    facts.add(
        "reference_labels",
        f"Labels as the manifest gives them (a labels column or one 0/1 column per label), per image in "
        f"splits.csv; labels {labels}; uncertain labels: {(config.get('data') or {}).get('uncertain_labels')}. "
        f"How these labels were established (the reference standard, its readers): {AUTHORS}.",
        "splits.csv",
        DATA_REPORT_FILE,
    )
    facts.add(
        "class_imbalance",
        f"Multi-label loss {loss.get('multilabel')} with pos_weight {loss.get('pos_weight')}; each label's "
        "threshold chosen on the validation split (see the operating points).",
        CONFIG_FILE,
        TEST_METRICS_FILE,
    )
    facts.add(
        "model_description",
        f"`{(config.get('model') or {}).get('name')}`: one output per label ({labels}), each turned into a "
        "probability by its own sigmoid. The full architecture arguments are the config's model section; the "
        "checkpoint rebuilds the model on its own.",
        CONFIG_FILE,
        BEST_CHECKPOINT,
    )
    facts.add(
        "model_specification",
        "The trained model with its preprocessing and per-label thresholds is the checkpoint (`medclass export` "
        "makes an ONNX bundle of it). Where it is published: " + AUTHORS + ".",
        BEST_CHECKPOINT,
    )
    if not metrics:
        return
    ci = metrics.get("ci")
    facts.add(
        "metrics",
        "Per label: AUROC, average precision, sensitivity and specificity at the label's threshold, expected "
        "calibration error (15 bins); over labels: macro and micro AUROC and mean average precision.",
        TEST_METRICS_FILE,
    )
    if ci:  # evaluation.bootstrap 0: no interval, nothing to claim
        facts.add(
            "uncertainty",
            f"95% confidence intervals from {ci.get('n_resamples')} {ci.get('method')} resamples "
            f"(unit: {ci.get('unit')}, seed {ci.get('seed')}).",
            TEST_METRICS_FILE,
        )
    headline = (
        f"test split (n = {metrics.get('n')}): macro AUROC {ci_text(metrics.get('macro_auroc'))}, micro AUROC "
        f"{ci_text(metrics.get('micro_auroc'))}, mAP {ci_text(metrics.get('map'))}; {_label_lines(metrics)}"
    )
    facts.add(
        "accuracy_estimates",
        headline[0].upper() + headline[1:] + ".",
        TEST_METRICS_FILE,
        "plots/label_roc.png",
    )
    facts.add(
        "performance_partitions", headline[0].upper() + headline[1:] + ".", METRICS_FILE, TEST_METRICS_FILE
    )
    facts.add(
        "failure_analysis",
        "The most confident errors of each label (false positives by probability, false negatives by one minus "
        "it) and the co-occurrence of errors between labels are in the run's report.",
        "plots/label_errors.png",
    )
    points = metrics.get("operating_points") or {}
    facts.add(
        "threshold",
        "One threshold per label, chosen on the validation split before the test split was scored: "
        + "; ".join(
            f"{name} {p.get('threshold', float('nan')):.3f} ({p.get('rule')})" for name, p in points.items()
        )
        + ".",
        TEST_METRICS_FILE,
    )
    facts.add(
        "calibration",
        "Label-wise expected calibration error on test (15 bins, the label's own absent/present probabilities): "
        + ", ".join(
            f"{name} {b['ece']:.3f}" if b.get("ece") is not None else f"{name} n/a"
            for name, b in (metrics.get("per_label") or {}).items()
        )
        + ".",
        TEST_METRICS_FILE,
    )
    facts.add(
        "model_output",
        "Per label a probability (the sigmoid of its output) and a 0/1 decision at the label's threshold.",
        TEST_METRICS_FILE,
    )
    facts.add(
        "audit",
        "Every test image's per-label probabilities and decisions are stored (predictions_test.csv, one row per "
        "image); `medclass validate` stores the same per site (predictions.csv).",
        TEST_PREDICTIONS_FILE,
    )
    facts.add(
        "indeterminate",
        "No indeterminate category: every readable image gets a decision per label; unreadable images are "
        "excluded and listed; an uncertain reference label is left out of that label's figures (policy "
        f"{(config.get('data') or {}).get('uncertain_labels')}).",
        DATA_REPORT_FILE,
        TEST_METRICS_FILE,
    )
    facts.add(
        "sample_size",
        f"No sample size was fixed in advance by the tool: the test split holds {metrics.get('n')} images (macro "
        f"AUROC {ci_text(metrics.get('macro_auroc'))}). The intended sample size and its rationale: {AUTHORS}.",
        TEST_METRICS_FILE,
    )
    facts.add(
        "limitations_evidence",
        f"Evidence for the limitations: test n = {metrics.get('n')}; per label {_label_lines(metrics)}. The "
        f"discussion itself: {AUTHORS}.",
        TEST_METRICS_FILE,
    )


def label_validation_facts(validation: dict[str, Any], out_dir: Path, figure: str | None) -> dict[str, Fact]:
    """The facts of a multi-label validation (``label_sites``, ``label_transfer``, ``label_subgroups``);
    ``figure``: the per-label ROC figure relative to ``out_dir`` when it exists."""
    sources = (VALIDATION_FILE,) + ((figure,) if figure else ())
    sites = validation.get("label_sites") or {}
    external = {name: site for name, site in sites.items() if not site.get("internal")}
    facts: dict[str, Fact] = {}
    if external:
        summary = " ".join((validation.get("label_transfer") or {}).get("summary") or [])
        lines = "; ".join(
            f"{name}: n = {site.get('n')}, macro AUROC {ci_text(site.get('macro_auroc'))}, per-label AUROC "
            + ", ".join(
                f"{label} {ci_text(b.get('auroc'))}" for label, b in (site.get("per_label") or {}).items()
            )
            for name, site in external.items()
        )
        facts["external_validation"] = Fact(
            f"External sites scored with the frozen model and its per-label thresholds: {lines}. {summary}",
            sources,
        )
        facts["dev_vs_eval"] = Fact(
            "Positive images per label and external site: "
            + "; ".join(f"{name} {site.get('label_counts')}" for name, site in external.items())
            + f". {summary}",
            (VALIDATION_FILE,),
        )
    columns = ((validation.get("label_subgroups") or {}).get("columns")) or {}
    if columns:
        parts = [
            f"{column}={value}: n = {group['n']}, macro AUROC {ci_text(group.get('macro_auroc'))}"
            + (" (too small to judge)" if group.get("too_small") else "")
            for column, analysis in columns.items()
            for value, group in analysis["groups"].items()
        ]
        facts["subgroups"] = Fact(
            "Subgroups (macro and per-label AUROC in validation.json): " + "; ".join(parts),
            (VALIDATION_FILE,),
        )
    return facts


def label_evidence_section(validation: dict[str, Any]) -> list[str]:
    """The dossier's evidence of a multi-label validation: per site and label AUROC, sensitivity and
    specificity at the stored thresholds with CIs, what transfers, the per-label ROC figure, the subgroups'
    macro AUROC, and what is not available for a multi-label model (with the reason)."""
    labels = validation.get("labels") or []
    lines = [
        "## External validation, label by label",
        "",
        "| site | n | macro AUROC | label | AUROC | sensitivity | specificity |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, site in (validation.get("label_sites") or {}).items():
        shown = f"{name} (the run's test split)" if site.get("internal") else name
        for label in labels:
            block = (site.get("per_label") or {}).get(label) or {}
            lines.append(
                f"| {shown} | {site.get('n')} | {ci_text(site.get('macro_auroc'))} | {label} | "
                f"{ci_text(block.get('auroc'))} | {ci_text(block.get('sensitivity'))} | "
                f"{ci_text(block.get('specificity'))} |"
            )
    summary = (validation.get("label_transfer") or {}).get("summary") or []
    lines += [""] + [f"- {sentence}" for sentence in summary]
    figure = (validation.get("figures") or {}).get("label_roc")
    if figure:
        lines += ["", f"![ROC per label and site]({figure})"]
    columns = ((validation.get("label_subgroups") or {}).get("columns")) or {}
    if columns:
        lines += ["", "## Subgroups (macro AUROC; per label in validation.json)", ""]
        for column, analysis in columns.items():
            for value, group in analysis["groups"].items():
                small = " (too small to judge)" if group.get("too_small") else ""
                lines.append(
                    f"- {column}={value}: n = {group['n']}, macro AUROC {ci_text(group.get('macro_auroc'))}{small}"
                )
    missing = validation.get("not_for_multilabel") or {}
    if missing:
        lines += ["", "## Not available for a multi-label model", ""]
        lines += [f"- `{key}`: {why}" for key, why in missing.items() if why.startswith("not yet")]
    return [*lines, ""]
