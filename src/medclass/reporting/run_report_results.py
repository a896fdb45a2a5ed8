"""The results sections of the run report: clinical summary, metrics with CIs, operating points, the per-epoch
table and calibration (the rest of the page is :mod:`medclass.reporting.run_report`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from medclass.reporting.figures import Figures
from medclass.reporting.html_kit import esc, fmt, image, render, table
from medclass.reporting.tables import (
    PER_CLASS,
    Estimate,
    headline_rows,
    per_class_rows,
    threshold_rows,
)
from medclass.runs import RunFiles

# Skipped files listed in the report (the full list is in data_report.json).


class _Figs:
    """Figure lookup: ``plots/<name>.png`` of the run, with the reason when it was skipped."""

    def __init__(self, run: RunFiles, figures: Figures | None) -> None:
        self.run, self.skipped = run, (figures.skipped if figures else {})

    def __call__(self, name: str, alt: str, caption: str = "", half: bool = False) -> str:
        return image(self.run.plot(name), alt, caption, half, self.skipped.get(name))


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


def explanations_section(run: RunFiles) -> str:
    """Faithfulness of the explanations ``medclass explain --faithfulness`` wrote into the run folder: per
    explanations folder, the mean deletion and insertion AUC over its images."""
    parts = ["<h2 id='explanations'>Explanations</h2>"]
    rows = []
    for folder, index in (run.explanations or {}).items():
        if not {"deletion_auc", "insertion_auc"} <= set(index.columns):
            continue
        # An empty error cell is read as NaN: those rows are the explained images.
        done = (
            index[index["error"].isna() | (index["error"].astype(str) == "")] if "error" in index else index
        )
        deletion = pd.to_numeric(done["deletion_auc"], errors="coerce").dropna()
        insertion = pd.to_numeric(done["insertion_auc"], errors="coerce").dropna()
        if deletion.empty:
            continue
        layers = ", ".join(sorted(done["layer"].dropna().astype(str).unique())) if "layer" in done else ""
        method = ", ".join(sorted(done["method"].dropna().astype(str).unique())) if "method" in done else ""
        rows.append([f"explanations/{folder}", method or folder, layers or "-", fmt(len(deletion)),
                     f"{deletion.mean():.3f}", f"{insertion.mean():.3f}"])  # fmt: skip
    if not rows:
        parts.append(
            "<p class='note'>No faithfulness measured. <code>medclass explain RUN_DIR IMAGES --faithfulness</code> "
            "adds, for each map, the area under the class-probability curve as its most-attributed pixels are "
            "removed (deletion) or restored from black (insertion), and this section summarises them.</p>"
        )
        return "".join(parts)
    parts.append(
        "<p>Faithfulness of the maps, without any boxes: the class probability as the most-attributed pixels "
        "are removed (deletion AUC, lower is better: the map found what the score depends on) or restored on a "
        "black image (insertion AUC, higher is better). Read the two together; a map of scattered pixels can "
        "lower the deletion AUC without raising the insertion AUC (BENCHMARKS.md, localisation).</p>"
    )
    headers = ["folder", "method", "layer", "images", "deletion AUC (mean)", "insertion AUC (mean)"]
    parts.append(table(headers, rows, "faithfulness"))
    return "".join(parts)
