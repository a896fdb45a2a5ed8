"""One self-contained HTML report of a run: every figure embedded as a base64 PNG, inline CSS, no scripts and
no external requests, so the file opens offline and can be mailed or archived as it is.

Built only from the files of the run folder (see :mod:`medclass.runs`); figures are taken
from ``RUN_DIR/plots/`` (draw them first with :func:`medclass.reporting.figures.write_run_figures`).
"""

from __future__ import annotations

import base64
import html
import time
from collections.abc import Iterable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path, PurePath
from typing import Any

import pandas as pd
import yaml

from medclass.reporting.figures import Figures
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
# Figures shown two to a row are at most this wide, and never shrunk below MIN_SCALE of their pixel size
# (the plots are drawn at 110 dpi with 9-10 pt text: below ~0.8 the legends become hard to read).
HALF_WIDTH = 560
MIN_SCALE = 0.8

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1d2330;
       background: #f6f7f9; line-height: 1.45; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 60px; background: #fff; }
h1 { margin: 0 0 4px; font-size: 1.7em; } h2 { margin-top: 2em; border-bottom: 2px solid #e3e6ea;
     padding-bottom: 4px; font-size: 1.3em; } h3 { font-size: 1.05em; margin: 1.3em 0 0.4em; }
.sub { color: #5b6473; margin: 0 0 16px; }
nav { font-size: 0.92em; margin: 8px 0 0; } nav a { margin-right: 12px; color: #2759a8; text-decoration: none; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 18px 0; }
.card { border: 1px solid #dfe3e8; border-radius: 8px; padding: 10px 16px; min-width: 150px; }
.card .v { font-size: 1.45em; font-weight: 600; } .card .k { color: #5b6473; font-size: 0.85em; }
.card .ci { color: #5b6473; font-size: 0.8em; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 0.92em; }
th, td { border: 1px solid #dfe3e8; padding: 5px 10px; text-align: right; vertical-align: top; }
th { background: #f1f3f6; } td:first-child, th:first-child { text-align: left; }
tr.best td { background: #fff6d6; font-weight: 600; } tr.total td { font-weight: 600; }
td.path { text-align: left; font-family: ui-monospace, monospace; font-size: 0.85em; word-break: break-all; }
.figs { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
figure { margin: 8px 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eceef1; }
figcaption { color: #5b6473; font-size: 0.85em; max-width: 900px; }
.note { color: #5b6473; font-size: 0.9em; } .missing { color: #9a5b00; font-size: 0.9em; }
pre { background: #f6f8fa; padding: 12px; overflow-x: auto; font-size: 0.85em; }
details summary { cursor: pointer; color: #2759a8; }
"""


def esc(value: Any) -> str:
    """HTML-escaped text of any value."""
    return html.escape(str(value), quote=True)


def fmt(value: Any, digits: int = 3) -> str:
    """A number with ``digits`` decimals, ``–`` for a missing value."""
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    table_id: str | None = None,
    row_classes: Sequence[str] | None = None,
) -> str:
    """An HTML table; cells are escaped (pass numbers pre-formatted; a ``PurePath`` cell is set as a file path).

    Args:
        headers: column titles.
        rows: one sequence of cells per row.
        table_id: the table's ``id`` (tests and readers' links find tables by it).
        row_classes: a CSS class per row (``""`` for none), e.g. ``best`` or ``total``.
    """
    ident = f' id="{esc(table_id)}"' if table_id else ""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        css = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        cells = "".join(
            f'<td class="path">{esc(c)}</td>' if isinstance(c, PurePath) else f"<td>{esc(c)}</td>"
            for c in row
        )
        body.append(f"<tr{css}>{cells}</tr>")
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def png_width(data: bytes) -> int | None:
    """Pixel width from a PNG's IHDR chunk (None if ``data`` is not a PNG)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24:
        return None
    return int.from_bytes(data[16:20], "big")


def image(
    path: Path | None, alt: str, caption: str = "", half: bool = False, skipped: str | None = None
) -> str:
    """A figure with the PNG embedded as a data URI, or a note saying why it is missing.

    ``half`` figures are shown two to a row (at most :data:`HALF_WIDTH` px) unless that would shrink them below
    :data:`MIN_SCALE` of their size (e.g. a legend beside the axes): those keep their own width and wrap.
    """
    if path is None or not path.is_file():
        reason = f": {skipped}" if skipped else ""
        return f'<p class="missing">{esc(alt)} not available{esc(reason)}.</p>'
    raw = path.read_bytes()
    width = png_width(raw)
    shrink = half and width is not None and width > HALF_WIDTH and HALF_WIDTH / width >= MIN_SCALE
    style = f' style="width: {HALF_WIDTH}px"' if shrink else ""  # the CSS max-width: 100% still applies
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    data = base64.b64encode(raw).decode("ascii")
    return f'<figure><img src="data:image/png;base64,{data}" alt="{esc(alt)}"{style}>{cap}</figure>'


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
    for label, key in (
        ("accuracy", "accuracy"),
        ("macro F1", "macro_f1"),
        ("AUROC", "auroc"),
        ("ECE", "ece"),
    ):
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
    for name, support, cells in per_class_rows(test):
        rows.append([name, fmt(support), *(cells[key].text(3) for _, key in PER_CLASS)])
    parts.append(
        "<h3>Per class (one-vs-rest)</h3>"
        + table(["class", "n", *(label for label, _ in PER_CLASS)], rows, "per-class")
        + "<p class='note'>Sensitivity and specificity with 95% bootstrap CIs; PR-AUC is the average precision.</p>"
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
            "Title: true / predicted (confidence); errors in red, the most confident first.",
        )
        + figs(
            "augmented_samples",
            "Augmented training samples",
            "Training images after the training augmentation, denormalised: what the model sees.",
        )
        + figs("feature_maps", "Feature maps", maps_caption)
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
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(run.name)} – medclass report</title><style>{CSS}</style></head>"
        f"<body><main>{''.join(sections)}</main></body></html>\n"
    )


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
