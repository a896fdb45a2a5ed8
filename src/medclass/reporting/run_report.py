"""The HTML report of one run, built only from the files of the run folder (see :mod:`medclass.runs`);
figures are taken from ``RUN_DIR/plots/`` (draw them first with
:func:`medclass.reporting.figures.write_run_figures`). It opens with what a clinician reads first: the declared
positive class, sensitivity, specificity, PPV and NPV with CIs at the decision rule ``predict`` applies and at
the operating point chosen on val, the confusion counts and AUROC, per image and per patient.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path, PurePath

import pandas as pd
import yaml

from medclass.config.schema import stopping_rule
from medclass.reporting.dossier_report import dossier_section
from medclass.reporting.figures import ERROR_CAMS_FIGURE, Figures
from medclass.reporting.html_kit import esc, fmt, page, table
from medclass.reporting.run_report_results import (
    _Figs,
    calibration_section,
    clinical_section,
    explanations_section,
    images_section,
    metrics_section,
)
from medclass.reporting.tables import (
    pretrained_text,
    split_counts_table,
)
from medclass.runs import REPORT_FILE, RunFiles, load_run
from medclass.utils.errors import RunDirError

# Skipped files listed in the report (the full list is in data_report.json).
MAX_SKIPPED_ROWS = 50


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
        ("explanations", "Explanations"),
        ("dossier", "Dossier"),
    )
    nav = "".join(f'<a href="#{key}">{label}</a>' for key, label in sections)
    return (
        f"<h1>{esc(run.name)}</h1><p class='sub'>{line}</p>"
        f"<nav>{nav}</nav><div class='cards'>{''.join(cards)}</div>"
    )


def data_section(run: RunFiles, figs: _Figs, counts_html: str | None = None) -> str:
    """The data section; ``counts_html`` replaces the images-per-class table and figure (a multi-label run's
    label counts)."""
    report = run.data_report or {}
    parts = ["<h2 id='data'>Data</h2>"]
    if report:
        parts.append(
            f"<p>{esc(report.get('data') or '')} (layout: {esc(report.get('layout', '?'))}), "
            f"{fmt(report.get('n_images'))} images used; duplicates {esc(report.get('duplicate_policy', '?'))}.</p>"
        )
    counts = split_counts_table(report, run.splits) if counts_html is None else None
    if counts_html is not None:
        parts.append(counts_html)
    if counts is not None:
        rows = [[str(index), *(fmt(int(v)) for v in row)] for index, row in counts.iterrows()]
        css = ["total" if r[0] == "total" else "" for r in rows]
        parts.append(
            "<h3>Images per class and split</h3>"
            + table(["class", *counts.columns], rows, "split-counts", css)
        )
    if counts_html is None:
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
        stopping_rule(
            trainer.get("epochs"), trainer.get("monitor"), trainer.get("patience"), trainer.get("refit")
        )
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
        ["pretrained", pretrained_text(model)],
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


def error_cams_block(run: RunFiles, figs: _Figs) -> str:
    """The class-activation panel of the most confident test errors (drawn from the model by the api layer), or why
    there is none."""
    record = (run.artifacts_info or {}).get(ERROR_CAMS_FIGURE) or {}
    if record.get("reason") and run.plot(ERROR_CAMS_FIGURE) is None:
        return f"<p class='note'>No class-activation panel of the errors: {esc(record['reason'])}.</p>"
    caption = (
        f"Where the model looked when it was wrong: {record.get('method', 'layercam')} at "
        f"layer {record.get('layer', '?')} (the default of medclass explain) for the "
        f"{len(record.get('images', []))} most confident test errors, most confident first; each image "
        "beside the map of the class it was taken for (left) and of its true class (right). A map on the "
        "lesion with a wrong label, or on the image border, text or a marker, is worth a look."
    )
    return "<h3>Most confident errors: where the model looked</h3>" + figs(
        ERROR_CAMS_FIGURE, "Class activation maps of the test errors", caption
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
        + "</div>"
        + error_cams_block(run, figs),
        "<h2 id='curves'>ROC and precision-recall</h2><div class='figs'>"
        + figs("roc", "ROC curves", half=True)
        + figs("pr", "Precision-recall curves", half=True)
        + "</div>",
        calibration_section(run, figs),
        images_section(run, figs),
        explanations_section(run),
        dossier_section(run),
        f"<p class='note'>Generated {esc(time.strftime('%Y-%m-%d %H:%M'))} by {esc(tool)} from {esc(run.run_dir)}.</p>",
    ]
    return page(f"{run.name} – medclass report", "".join(sections))


def write_report(
    run_dir: str | Path,
    out: str | Path | None = None,
    figures: Figures | None = None,
    render: Callable[[RunFiles, Figures | None], str] = render_report,
) -> Path:
    """Write the self-contained HTML report of a run folder.

    Args:
        run_dir: the run folder.
        out: the HTML file (default ``RUN_DIR/report.html``).
        figures: the result of ``write_run_figures`` (its skip reasons are shown where a figure is missing).
        render: the page of the run (the multi-label report passes its own).

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
    tmp.write_text(render(run, figures), encoding="utf-8")
    tmp.replace(path)
    return path
