"""The HTML report of one run, built only from the files of the run folder (see :mod:`medclass.runs`);
figures are taken from ``RUN_DIR/plots/`` (draw them first with
:func:`medclass.reporting.figures.write_run_figures`). It opens with what a clinician reads first: the declared
positive class, sensitivity, specificity, PPV and NPV with CIs at the decision rule ``predict`` applies and at
the operating point chosen on val, the confusion counts and AUROC, per image and per patient.
"""

from __future__ import annotations

import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path, PurePath
from typing import Any

import pandas as pd
import yaml

from medclass.reporting.figures import Figures
from medclass.reporting.html_kit import esc, fmt, image, page, render, table
from medclass.reporting.tables import (
    PER_CLASS,
    Estimate,
    headline_rows,
    per_class_rows,
    split_counts_table,
    threshold_rows,
)
from medclass.runs import REPORT_FILE, RunFiles, load_run
from medclass.utils.errors import RunDirError

# Skipped files listed in the report (the full list is in data_report.json).
MAX_SKIPPED_ROWS = 50


class _Figs:
    """Figure lookup: ``plots/<name>.png`` of the run, with the reason when it was skipped."""

    def __init__(self, run: RunFiles, figures: Figures | None) -> None:
        self.run, self.skipped = run, (figures.skipped if figures else {})

    def __call__(self, name: str, alt: str, caption: str = "", half: bool = False) -> str:
        return image(self.run.plot(name), alt, caption, half, self.skipped.get(name))


def header(run: RunFiles) -> str:
    test = run.test_metrics or {}
    cards = []
    ci = test.get("ci") or {}
    clinical = test.get("clinical")
    if clinical:
        # Binary: the cards lead with the positive class's numbers at the decision rule predict applies.
        positive = clinical["positive_class"]
        keys = (
            ("sensitivity", "sensitivity"),
            ("specificity", "specificity"),
            ("PPV", "ppv"),
            ("NPV", "npv"),
        )
        test = {**test, **{key: clinical[key]["value"] for _, key in keys}}
        ci = {**ci, **{key: clinical[key] for _, key in keys}}
        cards_of = (*((f"{label} ({positive})", key) for label, key in keys), ("AUROC", "auroc"))
    else:
        cards_of = (("accuracy", "accuracy"), ("macro F1", "macro_f1"), ("AUROC", "auroc"), ("ECE", "ece"))
    for label, key in cards_of:
        if test.get(key) is None:
            continue
        interval = ci.get(key) or {}
        extra = (
            f'<div class="ci">95% CI {fmt(interval["ci_low"])}–{fmt(interval["ci_high"])}</div>'
            if interval.get("ci_low") is not None
            else ""
        )
        cards.append(
            f'<div class="card"><div class="k">test {esc(label)}</div><div class="v">{fmt(test[key])}</div>{extra}</div>'
        )
    model = run.config.get("model", {}).get("name", "?")
    data = run.config.get("data", {})
    classes = ", ".join(run.classes) or "?"
    n_test = test.get("n")
    line = (
        f"{esc(model)} · {esc(data.get('image_size'))} px, {esc(data.get('channels'))} channel(s) · classes: "
        f"{esc(classes)}" + (f" · {n_test} test images" if n_test else "")
    )
    sections = (
        ("clinical", "Clinical summary"),
        ("data", "Data"),
        ("config", "Config"),
        ("model", "Model"),
        ("training", "Training"),
        ("metrics", "Test metrics"),
        ("errors", "Errors"),
        ("curves", "ROC / PR"),
        ("calibration", "Calibration"),
        ("images", "Images"),
    )
    nav = "".join(f'<a href="#{key}">{label}</a>' for key, label in sections)
    return (
        f"<h1>{esc(run.name)}</h1><p class='sub'>{line}</p>"
        f"<nav>{nav}</nav><div class='cards'>{''.join(cards)}</div>"
    )


def data_section(run: RunFiles, figs: _Figs) -> str:
    report = run.data_report or {}
    parts = ["<h2 id='data'>Data</h2>"]
    if report:
        parts.append(
            f"<p>{esc(report.get('data') or '')} (layout: {esc(report.get('layout', '?'))}), "
            f"{fmt(report.get('n_images'))} images used; duplicates {esc(report.get('duplicate_policy', '?'))}.</p>"
        )
    counts = split_counts_table(report, run.splits)
    if counts is not None:
        rows = [[str(index), *(fmt(int(v)) for v in row)] for index, row in counts.iterrows()]
        css = ["total" if r[0] == "total" else "" for r in rows]
        parts.append(
            "<h3>Images per class and split</h3>"
            + table(["class", *counts.columns], rows, "split-counts", css)
        )
    parts.append(figs("class_distribution", "Class distribution per split", half=True))
    dup = report.get("duplicates")
    if dup:
        rows = []
        for kind in ("exact", "near"):
            d = dup.get(kind, {})
            rel = d.get("by_relation", {})
            rows.append(
                [
                    kind if kind == "exact" else f"near (pHash distance ≤ {dup.get('near_distance')})",
                    fmt(d.get("groups")),
                    fmt(d.get("files")),
                    fmt(d.get("extra_copies")),
                    fmt(rel.get("within-class")),
                    fmt(rel.get("across-classes")),
                    fmt(rel.get("across-splits")),
                    fmt(d.get("label_conflicts")),
                ]
            )
        headers = [
            "duplicates",
            "groups",
            "files",
            "extra copies",
            "within class",
            "across classes",
            "across splits",
            "label conflicts",
        ]
        parts.append("<h3>Duplicates found</h3>" + table(headers, rows, "duplicates"))
    skipped = report.get("skipped") or []
    ignored = report.get("ignored") or []
    parts.append(
        f"<h3>Skipped files</h3><p>{len(skipped)} unreadable file(s) skipped, {len(ignored)} other file(s) ignored.</p>"
    )
    if skipped:
        rows = [[PurePath(str(s.get("path"))), s.get("reason", "")] for s in skipped[:MAX_SKIPPED_ROWS]]
        more = (
            f"<p class='note'>{len(skipped) - MAX_SKIPPED_ROWS} more in data_report.json.</p>"
            if len(skipped) > MAX_SKIPPED_ROWS
            else ""
        )
        parts.append(table(["file", "reason"], rows, "skipped") + more)
    return "".join(parts)


def config_section(run: RunFiles) -> str:
    text = yaml.safe_dump(run.config, sort_keys=False, default_flow_style=None, width=100)
    summary = []
    for key, label in (("optim", "optimizer"), ("scheduler", "schedule"), ("augment", "augmentation")):
        section = run.config.get(key, {})
        name = section.get("name") or section.get("preset")
        if name:
            summary.append(f"{label} {name}")
    trainer = run.config.get("trainer", {})
    summary.append(
        f"{trainer.get('epochs')} epochs max, early stop on {trainer.get('monitor')} (patience {trainer.get('patience')})"
    )
    summary.append(f"seed {run.config.get('seed')}")
    return (
        "<h2 id='config'>Config</h2>"
        f"<p>{esc('; '.join(summary))}.</p>"
        f"<details><summary>Resolved config.yaml (every default filled in)</summary><pre>{esc(text)}</pre></details>"
    )


def model_section(run: RunFiles) -> str:
    profile = run.model_profile
    model = run.config.get("model", {})
    parts = ["<h2 id='model'>Model</h2>"]
    rows = [
        ["architecture", str(model.get("name"))],
        ["pretrained weights", fmt(bool(model.get("pretrained")))],
    ]
    if profile:
        params = profile.get("params", {})
        size, chans = profile.get("image_size"), profile.get("in_chans")
        rows += [
            ["parameters", f"{params.get('total', 0):,} ({params.get('trainable', 0):,} trainable)"],
            [
                "compute per image",
                f"{profile.get('macs', 0) / 1e9:.3f} G multiply-adds (MACs) at {chans}×{size}×{size}",
            ],
        ]
    parts.append(table(["property", "value"], rows, "model"))
    if profile:
        parts.append(f"<p class='note'>{esc(profile.get('convention', ''))}.</p>")
    else:
        parts.append(
            "<p class='missing'>No model_profile.json: parameters and multiply-adds not available.</p>"
        )
    return "".join(parts)


def training_section(run: RunFiles, figs: _Figs) -> str:
    parts = ["<h2 id='training'>Training</h2>"]
    metrics = run.metrics
    if metrics is not None and len(metrics):
        best = run.best_epoch
        seconds = (
            pd.to_numeric(metrics.get("seconds"), errors="coerce").sum() if "seconds" in metrics else None
        )
        text = f"{len(metrics)} epoch(s) trained"
        if best is not None:
            text += f"; best checkpoint from epoch {best} (by {esc(run.monitor)})"
        if seconds:
            text += f"; {seconds / 60:.1f} min of training"
        parts.append(f"<p>{text}.</p>")
    parts.append(
        figs(
            "learning_curves",
            "Learning curves",
            "Loss and accuracy per epoch, train vs validation; dashed line: the best checkpoint.",
        )
    )
    return "".join(parts)


def _estimate_cells(rows: list[tuple[str, Estimate]]) -> list[list[str]]:
    return [[label, est.text(3)] for label, est in rows]


def metrics_section(run: RunFiles) -> str:
    test = run.test_metrics
    parts = ["<h2 id='metrics'>Test metrics</h2>"]
    if not test:
        return (
            "".join(parts)
            + "<p class='missing'>No test_metrics.json (no test split, or training did not finish).</p>"
        )
    ci = test.get("ci") or {}
    method = (
        f"95% CIs: {ci.get('method', 'bootstrap')}, {ci.get('n_resamples')} resamples"
        if ci
        else "no bootstrap CIs (evaluation.bootstrap: 0)"
    )
    decision = (
        "argmax"
        if test.get("threshold") is None
        else f"threshold {test['threshold']:.4f} on p({test['classes'][1]})"
    )
    parts.append(f"<p>{fmt(test.get('n'))} test images, decision: {esc(decision)}. {esc(method)}.</p>")
    parts.append(table(["metric", "value [95% CI]"], _estimate_cells(headline_rows(test)), "test-metrics"))
    rows = []
    positive = test.get("positive_class")
    for name, support, cells in per_class_rows(test):
        # Two classes: the negative class's row only mirrors the positive one (its sensitivity is the
        # positive class's specificity, its AUROC the same), so it is left out.
        if positive is not None and name != positive:
            continue
        rows.append([name, fmt(support), *(cells[key].text(3) for _, key in PER_CLASS)])
    title = f"Positive class {esc(positive)}" if positive is not None else "Per class (one-vs-rest)"
    note = (
        "The other class mirrors it (its sensitivity is this specificity). " if positive is not None else ""
    )
    parts.append(
        f"<h3>{title}</h3>"
        + table(["class", "n", *(label for label, _ in PER_CLASS)], rows, "per-class")
        + f"<p class='note'>{note}Sensitivity, specificity and precision with 95% bootstrap CIs; PR-AUC is "
        "the average precision.</p>"
    )
    parts.append(operating_point_block(test))
    if test.get("referral"):
        parts.append(
            "<h3>Referral (MC dropout)</h3><pre>"
            + esc(yaml.safe_dump(test["referral"], sort_keys=False))
            + "</pre>"
        )
    parts.append(epoch_table(run))
    return "".join(parts)


def operating_point_block(test: dict[str, Any]) -> str:
    rows = threshold_rows(test)
    point = test.get("operating_point") or {}
    if rows is None:
        return ""
    chosen = (
        f"{point.get('rule', '?')}, chosen on the {point.get('chosen_on', 'val')} split"
        if point
        else "stored"
    )
    body = [[label, low.text(3), high.text(3)] for label, low, high in rows]
    return (
        f"<h3>Operating point</h3><p>Threshold {fmt(test.get('threshold'), 4)} ({esc(chosen)}), "
        "compared with 0.5, both applied to the test split.</p>"
        + table(["metric", "at 0.5", f"at {fmt(test.get('threshold'), 4)}"], body, "operating-point")
    )


def epoch_table(run: RunFiles) -> str:
    table_ = run.epoch_metrics
    if table_ is None or table_.empty:
        return ""
    columns = [
        c
        for c in ("epoch", "accuracy", "balanced_accuracy", "macro_f1", "auroc", "ece")
        if c in table_.columns
    ]
    rows = [[fmt(int(r["epoch"])), *(fmt(r[c]) for c in columns[1:])] for _, r in table_.iterrows()]
    best = (
        table_["best_f1"].astype(str).str.lower().eq("true").tolist()
        if "best_f1" in table_
        else [False] * len(rows)
    )
    return (
        "<h3>Test metrics per kept epoch</h3>"
        + table(columns, rows, "epoch-metrics", ["best" if b else "" for b in best])
        + "<p class='note'>Highlighted: the epoch with the best test macro-F1 (the X-ray protocol). Picking an epoch "
        "on the test split makes its score optimistic; the run's best checkpoint was chosen on validation.</p>"
    )


def calibration_section(run: RunFiles, figs: _Figs) -> str:
    test = run.test_metrics or {}
    cal = test.get("calibration") or {}
    parts = ["<h2 id='calibration'>Calibration</h2>"]
    if test.get("ece") is not None:
        text = f"Test ECE {fmt(test['ece'])} (15 equal-width confidence bins)"
        if cal.get("fitted_on"):
            before = next((v for k, v in cal.items() if k.endswith("_ece_before")), None)
            after = next((v for k, v in cal.items() if k.endswith("_ece_after")), None)
            text += (
                f"; temperature scaling T = {fmt(cal.get('temperature'))} fitted on the {esc(cal['fitted_on'])} split "
                f"(its ECE {fmt(before)} → {fmt(after)})"
            )
        else:
            text += "; no temperature scaling (evaluation.calibrate: false)"
        parts.append(f"<p>{text}.</p>")
    parts.append(
        figs(
            "reliability",
            "Reliability diagram",
            "Accuracy per confidence bin against the diagonal; below: how many test images fall in each bin.",
            half=True,
        )
    )
    if run.referral is not None:
        parts.append(figs("referral", "Accuracy vs referral", half=True))
    return "".join(parts)


def images_section(run: RunFiles, figs: _Figs) -> str:
    info = run.artifacts_info or {}
    maps = info.get("feature_maps") or {}
    maps_caption = (
        f"Activations of the best model's stages ({', '.join(maps.get('layers', []))}) for the test image "
        f"{Path(maps['image']).name} (true class {maps.get('label')})."
        if maps
        else ""
    )
    return (
        "<h2 id='images'>Images</h2>"
        + figs(
            "test_predictions",
            "Test predictions",
            "Title: file name, then true / predicted (confidence); errors in red, the most confident first.",
        )
        + figs(
            "augmented_samples",
            "Augmented training samples",
            "Each training image (original, left) beside its version after the training augmentation, denormalised: what the model sees.",
        )
        + figs("feature_maps", "Feature maps", maps_caption)
    )


def interval(entry: dict[str, Any] | None) -> str:
    """``0.912 [0.881, 0.940]`` of a ``{value, ci_low, ci_high}`` entry."""
    entry = entry or {}
    return Estimate(entry.get("value"), entry.get("ci_low"), entry.get("ci_high")).text(3)


def clinical_section(run: RunFiles) -> str:
    """Sensitivity, specificity, PPV, NPV (CIs), confusion counts and AUROC at the decision rule and at the
    val operating point (binary), or the per-class one-vs-rest operating points (multi-class)."""
    test = run.test_metrics or {}
    ci = test.get("ci") or {}
    blocks, points = [], test.get("operating_points") or {}
    if "clinical" in test:
        blocks.append(test["clinical"])
        if "clinical" in points and points.get("threshold") != test.get("threshold"):
            blocks.append(points["clinical"])
    configured = (run.config.get("evaluation") or {}).get("positive_class")
    by_group = test.get("by_group") or {}
    group_block = None
    if by_group.get("clinical"):
        group_block = dict(by_group["clinical"], aggregate=by_group.get("aggregate", "mean"))
    method = (
        f"{ci.get('method')}, {ci.get('n_resamples')} resamples" if ci else "none (evaluation.bootstrap: 0)"
    )
    return render(
        "clinical.html.j2",
        binary=bool(blocks),
        blocks=blocks,
        positive=test.get("positive_class"),
        positive_default=None if configured else "the class named like a finding, else the minority class",
        predict_rule=blocks[0]["rule"] if blocks else "argmax",
        n=test.get("n"),
        n_groups=ci.get("n_groups") or by_group.get("n"),
        ci_method=method,
        group_block=group_block,
        class_points=points if "per_class" in points else None,
        interval=interval,
    )


def render_report(run: RunFiles, figures: Figures | None = None) -> str:
    """The report of ``run`` as one HTML string."""
    figs = _Figs(run, figures)
    try:
        tool = f"medclass {version('medclass')}"
    except PackageNotFoundError:
        tool = "medclass"
    sections = [
        header(run),
        clinical_section(run),
        data_section(run, figs),
        config_section(run),
        model_section(run),
        training_section(run, figs),
        metrics_section(run),
        "<h2 id='errors'>Errors</h2><div class='figs'>"
        + figs("confusion_matrix", "Confusion matrix (counts)", half=True)
        + figs("confusion_matrix_normalized", "Confusion matrix (row-normalised)", half=True)
        + "</div>",
        "<h2 id='curves'>ROC and precision-recall</h2><div class='figs'>"
        + figs("roc", "ROC curves", half=True)
        + figs("pr", "Precision-recall curves", half=True)
        + "</div>",
        calibration_section(run, figs),
        images_section(run, figs),
        f"<p class='note'>Generated {esc(time.strftime('%Y-%m-%d %H:%M'))} by {esc(tool)} from {esc(run.run_dir)}.</p>",
    ]
    return page(f"{run.name} – medclass report", "".join(sections))


def write_report(run_dir: str | Path, out: str | Path | None = None, figures: Figures | None = None) -> Path:
    """Write the self-contained HTML report of a run folder.

    Args:
        run_dir: the run folder.
        out: the HTML file (default ``RUN_DIR/report.html``).
        figures: the result of ``write_run_figures`` (its skip reasons are shown where a figure is missing).

    Returns:
        The path written.

    Raises:
        RunDirError: ``run_dir`` is not a run folder, or ``out`` is a folder.
    """
    run = load_run(run_dir)
    path = Path(out) if out is not None else run.run_dir / REPORT_FILE
    if path.is_dir():
        raise RunDirError(f"--out {path} is a folder; give the HTML file to write, e.g. {path / REPORT_FILE}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render_report(run, figures), encoding="utf-8")
    tmp.replace(path)
    return path
