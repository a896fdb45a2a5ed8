"""``summary.md``: the main results of a run as Markdown tables, ready to paste into a paper draft or an issue."""

from __future__ import annotations

from pathlib import Path

from medclass.reporting.tables import (
    PER_CLASS,
    PER_LABEL,
    headline_rows,
    label_summary_rows,
    per_class_rows,
    per_label_rows,
    split_counts_table,
    threshold_rows,
)
from medclass.runs import SUMMARY_FILE, RunFiles, load_run


def _md_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return [line(headers), "|" + "|".join("---" for _ in headers) + "|", *(line(r) for r in rows)]


def multilabel_lines(test: dict) -> list[str]:
    """The per-label and the macro/micro tables of a multi-label run's test metrics."""
    ci = test.get("ci") or {}
    lines = [
        f"Test split: {test.get('n')} test images, each label at its own threshold, 95% CIs from "
        f"{ci.get('n_resamples')} bootstrap resamples of whole {ci.get('unit', 'image')}s.",
        "",
    ]
    lines += _md_table(
        ["metric", "value [95% CI]"], [[label, est.text(3)] for label, est in label_summary_rows(test)]
    )
    lines += ["", "Per label:", ""]
    rows = [
        [name, f"{block.get('threshold', float('nan')):.4f}", *(cells[key].text(3) for _, key in PER_LABEL)]
        for name, block, cells in per_label_rows(test)
    ]
    return lines + _md_table(["label", "threshold", *(label for label, _ in PER_LABEL)], rows)


def names_of(run: RunFiles) -> str:
    """``classes: a, b`` or, for a multi-label run, ``labels: a, b, c``."""
    test, stats = run.test_metrics or {}, (run.data_report or {}).get("multilabel")
    if test.get("task") == "multilabel" or stats:
        labels = test.get("labels") or next(iter(stats.values()), {}).get("labels", [])
        return f"multi-label, labels: {', '.join(labels)}"
    return f"classes: {', '.join(run.classes)}"


def render_summary(run: RunFiles) -> str:
    """The Markdown text of summary.md."""
    model = run.config.get("model", {}).get("name", "?")
    data = run.config.get("data", {})
    lines = [
        f"# {run.name}",
        "",
        f"{model}, {data.get('image_size')} px, {names_of(run)}",
        "",
    ]
    test = run.test_metrics
    if not test:
        return "\n".join([*lines, "No test metrics (test_metrics.json is absent).", ""])
    if test.get("task") == "multilabel":
        return "\n".join([*lines, *multilabel_lines(test), ""])
    ci = test.get("ci") or {}
    decision = "argmax" if test.get("threshold") is None else f"threshold {test['threshold']:.4f}"
    where = f"{test.get('n')} test images, {decision}"
    if ci:
        where += f", 95% CIs from {ci.get('n_resamples')} stratified bootstrap resamples"
    lines += [f"Test split: {where}.", ""]
    lines += _md_table(
        ["metric", "value [95% CI]"], [[label, est.text(3)] for label, est in headline_rows(test)]
    )
    lines += ["", "Per class (one-vs-rest):", ""]
    rows = [
        [name, str(n), *(cells[key].text(3) for _, key in PER_CLASS)]
        for name, n, cells in per_class_rows(test)
    ]
    lines += _md_table(["class", "n", *(label for label, _ in PER_CLASS)], rows)
    at_threshold = threshold_rows(test)
    if at_threshold:
        rule = (test.get("operating_point") or {}).get("rule", "stored")
        lines += ["", f"Operating point ({rule}, chosen on validation):", ""]
        lines += _md_table(
            ["metric", "at 0.5", f"at {test['threshold']:.4f}"],
            [[label, low.text(3), high.text(3)] for label, low, high in at_threshold],
        )
    counts = split_counts_table(run.data_report, run.splits)
    if counts is not None:
        lines += ["", "Images per split:", ""]
        lines += _md_table(["class", *counts.columns], [[str(i), *map(str, r)] for i, r in counts.iterrows()])
    best = run.best_epoch
    if best is not None:
        lines += ["", f"Best checkpoint: epoch {best} by {run.monitor}."]
    return "\n".join([*lines, ""])


def write_summary(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write ``summary.md`` (default ``RUN_DIR/summary.md``) and return its path.

    Raises:
        RunDirError: ``run_dir`` is not a run folder.
    """
    run = load_run(run_dir)
    path = Path(out) if out is not None else run.run_dir / SUMMARY_FILE
    path.write_text(render_summary(run), encoding="utf-8")
    return path
