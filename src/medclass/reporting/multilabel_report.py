"""The HTML report of a multi-label run (``"task": "multilabel"`` in test_metrics.json): the per-label table
(AUROC, AP, sensitivity and specificity at each label's threshold, with CIs) and macro/micro AUROC and mAP,
ROC and precision-recall curves per label, a reliability diagram per label with its temperature, the co-occurrence of errors between labels and the most confident
errors of each label. The data, config, model and training sections are the single-label report's.
"""

from __future__ import annotations

import time

from medclass.reporting.figures import Figures
from medclass.reporting.html_kit import esc, fmt, page, table
from medclass.reporting.multilabel_figures import (
    ERRORS_FIGURE,
    PR_FIGURE,
    RELIABILITY_FIGURE,
    ROC_FIGURE,
    error_cooccurrence,
    label_scores,
)
from medclass.reporting.run_report import (
    config_section,
    data_section,
    model_section,
    training_section,
)
from medclass.reporting.run_report_results import _Figs
from medclass.reporting.tables import PER_LABEL, label_summary_rows, per_label_rows
from medclass.runs import RunFiles

SECTIONS = (
    ("metrics", "Per-label metrics"),
    ("curves", "ROC / PR"),
    ("calibration", "Calibration"),
    ("errors", "Errors"),
    ("data", "Data"),
    ("config", "Config"),
    ("model", "Model"),
    ("training", "Training"),
)


def is_multilabel(run: RunFiles) -> bool:
    """Whether the run is a multi-label model's: its test metrics say so, or (without a test split) its data
    report holds the label statistics."""
    return (run.test_metrics or {}).get("task") == "multilabel" or "multilabel" in (run.data_report or {})


def multilabel_header(run: RunFiles) -> str:
    """The title, one line on the model and labels, the links to the sections and the summary cards."""
    test = run.test_metrics or {}
    cards = "".join(
        f'<div class="card"><div class="k">test {esc(label)}</div><div class="v">{fmt(est.value)}</div>'
        + (
            f'<div class="ci">95% CI {fmt(est.ci_low)}–{fmt(est.ci_high)}</div>'
            if est.ci_low is not None
            else ""
        )
        + "</div>"
        for label, est in label_summary_rows(test)
    )
    data = run.config.get("data", {})
    line = (
        f"{esc(run.config.get('model', {}).get('name', '?'))} · {esc(data.get('image_size'))} px · multi-label, "
        f"labels: {esc(', '.join(test.get('labels', [])))}"
        + (f" · {test['n']} test images" if test.get("n") else "")
    )
    nav = "".join(f'<a href="#{key}">{label}</a>' for key, label in SECTIONS)
    return (
        f"<h1>{esc(run.name)}</h1><p class='sub'>{line}</p><nav>{nav}</nav><div class='cards'>{cards}</div>"
    )


def per_label_section(run: RunFiles) -> str:
    """The per-label table and the macro/micro summary table."""
    test = run.test_metrics or {}
    parts = ["<h2 id='metrics'>Per-label metrics</h2>"]
    if not test:
        return (
            parts[0]
            + "<p class='missing'>No test_metrics.json (no test split, or training did not finish).</p>"
        )
    ci = test.get("ci") or {}
    rows = [
        [
            name,
            fmt(block.get("n_positive")),
            fmt(block.get("n_known")),
            fmt(block.get("threshold"), 4),
            *(cells[key].text(3) for _, key in PER_LABEL),
            fmt(block.get("ece")),
        ]
        for name, block, cells in per_label_rows(test)
    ]
    headers = [
        "label",
        "positives",
        "known",
        "threshold",
        *(label for label, _ in PER_LABEL),
        "ECE (15 bins)",
    ]
    parts.append(table(headers, rows, "per-label"))
    parts.append(
        table(
            ["metric", "value [95% CI]"],
            [[label, est.text(3)] for label, est in label_summary_rows(test)],
            "label-summary",
        )
    )
    rules = {(p.get("rule"), p.get("chosen_on")) for p in (test.get("operating_points") or {}).values()}
    rule_text = ", ".join(f"{rule} on {where}" for rule, where in sorted(rules, key=str)) or "stored"
    parts.append(
        f"<p class='note'>Sensitivity and specificity at each label's threshold ({esc(rule_text)}); "
        f"values in brackets are 95% intervals from {esc(ci.get('n_resamples', '?'))} bootstrap resamples of "
        f"whole {esc(ci.get('unit', 'image'))}s. Known: images whose label is not uncertain.</p>"
    )
    return "".join(parts)


def calibration_section(run: RunFiles, figs: _Figs) -> str:
    """The reliability diagram of each label on test and, per label, the temperature fitted on val with the
    label's val ECE before and after it (``evaluation.calibrate``)."""
    per_label = (run.test_metrics or {}).get("per_label") or {}
    blocks = {name: block.get("calibration") or {} for name, block in per_label.items()}
    fitted = {name: c for name, c in blocks.items() if c.get("fitted_on") or c.get("temperature_kept")}
    if fitted:
        rows = [
            [
                name,
                fmt(c.get("temperature"), 3),
                *(fmt(value) for key, value in c.items() if key.endswith(("_ece_before", "_ece_after"))),
                c.get("temperature_kept") or "",
            ]
            for name, c in blocks.items()
        ]
        text = table(
            ["label", "temperature", "val ECE before", "val ECE after", "kept at 1 because"],
            rows,
            "label-calibration",
        )
    else:
        text = (
            "<p class='note'>No temperature scaling (evaluation.calibrate: false): each label's probability is "
            "the sigmoid of its logit.</p>"
        )
    return (
        "<h2 id='calibration'>Calibration per label</h2>"
        + figs(
            RELIABILITY_FIGURE,
            "Reliability diagram per label",
            "Per label, test images binned by the confidence of the label's decision at 0.5 (its probability, "
            "or one minus it); bars: the share decided right per bin. The ECE is the label's in the table above.",
        )
        + text
    )


def error_cooccurrence_block(run: RunFiles) -> str:
    """The label x label table of how often one label's error comes with another's, or why it is missing."""
    try:
        frame = error_cooccurrence(label_scores(run))
    except ValueError as exc:
        return f"<p class='missing'>No error co-occurrence: {esc(exc)}.</p>"
    labels = list(frame.columns[1:])
    rows = [
        [name, fmt(int(row["errors"])), *(fmt(row[other]) for other in labels)]
        for name, row in frame.iterrows()
    ]
    return (
        "<h3>Co-occurrence of errors</h3>"
        + table(["label", "errors", *labels], rows, "error-cooccurrence")
        + "<p class='note'>Row A, column B: of the test images where the decision on A is wrong, the share "
        "where the decision on B is wrong too. Errors that travel together point at images the model reads "
        "badly as a whole (quality, positioning) rather than at one finding.</p>"
    )


def label_counts_block(run: RunFiles) -> str:
    """Images per split, and per label its positive (and uncertain) images per split, from the data report."""
    stats = (run.data_report or {}).get("multilabel") or {}
    splits = [s for s in ("train", "val", "test") if s in stats] + sorted(
        set(stats) - {"train", "val", "test"}
    )
    if not splits:
        return "<p class='missing'>No label counts in data_report.json.</p>"
    labels = stats[splits[0]].get("labels", [])

    def cell(split: str, name: str) -> str:
        entry = stats[split].get("frequency", {}).get(name, {})
        uncertain = entry.get("uncertain") or 0
        return fmt(entry.get("positive")) + (f" ({fmt(uncertain)} uncertain)" if uncertain else "")

    rows = [[name, *(cell(split, name) for split in splits)] for name in labels]
    rows.append(["no finding", *(fmt(stats[split].get("no_finding")) for split in splits)])
    rows.append(["images", *(fmt(stats[split].get("n")) for split in splits)])
    return "<h3>Positive images per label and split</h3>" + table(
        ["label", *splits], rows, "label-counts", [""] * (len(rows) - 1) + ["total"]
    )


def render_multilabel_report(run: RunFiles, figures: Figures | None = None) -> str:
    """The report of a multi-label run as one HTML string."""
    figs = _Figs(run, figures)
    sections = [
        multilabel_header(run),
        per_label_section(run),
        "<h2 id='curves'>ROC and precision-recall per label</h2><div class='figs'>"
        + figs(ROC_FIGURE, "ROC curves per label", half=True)
        + figs(PR_FIGURE, "Precision-recall curves per label", half=True)
        + "</div>",
        calibration_section(run, figs),
        "<h2 id='errors'>Errors</h2>"
        + error_cooccurrence_block(run)
        + "<h3>Most confident errors per label</h3>"
        + figs(
            ERRORS_FIGURE,
            "Most confident test errors per label",
            "Per label, the test images the model was most sure about and wrong: FP a false positive by its "
            "probability, FN a false negative by one minus it.",
        ),
        data_section(run, figs, label_counts_block(run)),
        config_section(run),
        model_section(run),
        training_section(run, figs),
        f"<p class='note'>Generated {esc(time.strftime('%Y-%m-%d %H:%M'))} by medclass from "
        f"{esc(run.run_dir)}.</p>",
    ]
    return page(f"{run.name} – medclass report", "".join(sections))
