"""The comparison of multi-label runs: per run macro/micro AUROC and mAP with their CIs, and per label each run's
AUROC with its CI and DeLong's test of the best run against it (instead of the single-label McNemar test, which
compares one decision per image).

Everything is read from the run folders (``test_metrics.json`` for the figures and CIs, ``predictions_test.csv``
for the paired tests), as :mod:`medclass.campaigns.comparison` does for single-label runs. The best run is the
one with the highest test macro AUROC. Uncertain labels (``?``) are left out of their label's test, as they are
left out of its figures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medclass.campaigns.comparison import Comparison, cost_cells, cost_columns, load_finished_run
from medclass.data.multilabel import label_matrix
from medclass.evaluation.delong import delong_test
from medclass.runs import TEST_PREDICTIONS_FILE, RunFiles
from medclass.utils.errors import ConfigError, DataError, RunDirError

LABEL_METRICS = ("macro_auroc", "micro_auroc", "map")
LABEL_PRIMARY = "macro_auroc"
MULTILABEL = "multilabel"


def is_multilabel_run(run: RunFiles) -> bool:
    """Whether a finished run's test_metrics.json is a multi-label one."""
    return bool(run.test_metrics) and run.test_metrics.get("task") == MULTILABEL


def all_multilabel(runs: Sequence[RunFiles], command: str) -> bool:
    """True when every run is multi-label, False when none is.

    Raises:
        ConfigError: a mix of both, naming one run of each.
    """
    kinds = [is_multilabel_run(r) for r in runs]
    if all(kinds) or not any(kinds):
        return all(kinds)
    multi = next(r for r, k in zip(runs, kinds, strict=True) if k)
    single = next(r for r, k in zip(runs, kinds, strict=True) if not k)
    raise ConfigError(
        f"{command}: {multi.run_dir} is a multi-label run and {single.run_dir} a single-label one; "
        f"{command} runs of one task type"
    )


def run_labels(runs: Sequence[RunFiles]) -> list[str]:
    """The label names shared by multi-label runs.

    Raises:
        DataError: runs with different labels (both named).
    """
    first = list(runs[0].test_metrics["labels"])
    for run in runs[1:]:
        if list(run.test_metrics["labels"]) != first:
            raise DataError(
                f"{run.run_dir}: labels {list(run.test_metrics['labels'])} differ from those of "
                f"{runs[0].run_dir} {first}; compare runs of the same labels"
            )
    return first


def label_scores(run: RunFiles, labels: Sequence[str]) -> tuple[pd.Index, np.ndarray, np.ndarray]:
    """``(paths, y_true (N, K) with NaN uncertain, probs (N, K))`` of a multi-label run's predictions_test.csv.

    Raises:
        RunDirError: the file lacks the ``path``, ``label`` or a ``p_<label>`` column, or holds unknown labels.
    """
    path = run.run_dir / TEST_PREDICTIONS_FILE
    table = run.predictions
    columns = [f"p_{name}" for name in labels]
    missing = [c for c in ["path", "label", *columns] if table is None or c not in table.columns]
    if missing:
        raise RunDirError(
            f"{path}: missing column(s) {missing}; expected path, label and p_<label> per label"
        )
    try:
        y_true = label_matrix(list(table["label"].fillna("").astype(str)), labels, str(path))
    except DataError as exc:
        raise RunDirError(str(exc)) from None
    return pd.Index(table["path"].astype(str)), y_true.astype(np.float64), table[columns].to_numpy(float)


def paired_label_tests(
    reference: RunFiles, other: RunFiles, labels: Sequence[str]
) -> dict[str, dict[str, Any] | None]:
    """DeLong's test of ``AUROC(reference) - AUROC(other)`` per label on the images both were tested on
    (None for a label without a known positive or negative).

    Raises:
        DataError: the runs were tested on different images or give an image different labels.
    """
    paths_a, y_a, p_a = label_scores(reference, labels)
    paths_b, y_b, p_b = label_scores(other, labels)
    only_a, only_b = paths_a.difference(paths_b), paths_b.difference(paths_a)
    if len(only_a) or len(only_b) or paths_a.has_duplicates:
        example = (list(only_a) or list(only_b) or ["(a repeated path)"])[0]
        raise DataError(
            f"{reference.run_dir} and {other.run_dir} were tested on different images ({len(only_a)} only in "
            f"the first, {len(only_b)} only in the second, e.g. {example}); the paired test needs the same "
            "test split: train both with the same data, split strategy and split.seed"
        )
    order = paths_b.get_indexer(paths_a)
    y_b, p_b = y_b[order], p_b[order]
    if not np.array_equal(y_a, y_b, equal_nan=True):
        raise DataError(
            f"{reference.run_dir} and {other.run_dir} give different labels to the same test images"
        )
    tests: dict[str, dict[str, Any] | None] = {}
    for j, name in enumerate(labels):
        known = ~np.isnan(y_a[:, j])
        truth = y_a[known, j] == 1
        tests[name] = (
            delong_test(truth, p_a[known, j], p_b[known, j]) if 0 < truth.sum() < len(truth) else None
        )
    return tests


def _figure(block: Mapping[str, Any] | None) -> tuple[float, float, float]:
    block = block or {}

    def number(key: str) -> float:
        value = block.get(key)
        return float(value) if isinstance(value, int | float) else math.nan

    return number("value"), number("ci_low"), number("ci_high")


def compare_label_runs(runs: Mapping[str, Sequence[str | Path]]) -> Comparison:
    """The comparison of multi-label runs ``{variant: [run folder]}`` (one run per variant).

    Returns:
        A :class:`Comparison` whose ``table`` has ``macro_auroc``, ``micro_auroc``, ``map`` (each with
        ``_ci_low``/``_ci_high``) and the cost columns, and whose ``per_label`` has one row per variant and label:
        ``variant, label, auroc, auroc_ci_low, auroc_ci_high, n_positive, difference, difference_ci_low,
        difference_ci_high, p_value`` (the difference is best minus this variant, DeLong's test; empty for the
        best).

    Raises:
        ConfigError: a variant with several runs; DataError: different labels or test images; RunDirError: an
        unfinished run.
    """
    several = [variant for variant, dirs in runs.items() if len(dirs) != 1]
    if several:
        raise ConfigError(
            f"variant {several[0]!r} has {len(runs[several[0]])} runs: the multi-label comparison takes one run "
            "per variant (use repeats: 1)"
        )
    loaded = {variant: load_finished_run(dirs[0]) for variant, dirs in runs.items()}
    labels = run_labels(list(loaded.values()))
    cost_cache: dict[str, tuple[int, int]] = {}
    rows, long_rows = [], []
    for variant, run in loaded.items():
        row: dict[str, Any] = {"variant": variant, "runs": 1}
        for metric in LABEL_METRICS:
            value, low, high = _figure(run.test_metrics.get(metric))
            row.update({metric: value, f"{metric}_ci_low": low, f"{metric}_ci_high": high})
            long_rows.append(
                {"variant": variant, "metric": metric, "value": value, "ci_low": low, "ci_high": high}
            )
        row.update(cost_columns([run], cost_cache))
        rows.append(row)
    table = pd.DataFrame(rows)
    best = str(table.loc[table[LABEL_PRIMARY].fillna(-math.inf).idxmax(), "variant"])
    per_label = []
    for variant, run in loaded.items():
        tests = {} if variant == best else paired_label_tests(loaded[best], run, labels)
        for name in labels:
            block = run.test_metrics["per_label"][name]
            value, low, high = _figure(block.get("auroc"))
            test = tests.get(name)
            per_label.append(
                {
                    "variant": variant,
                    "label": name,
                    "auroc": value,
                    "auroc_ci_low": low,
                    "auroc_ci_high": high,
                    "n_positive": block.get("n_positive"),
                    "difference": test["difference"] if test else None,
                    "difference_ci_low": test["ci_low"] if test else None,
                    "difference_ci_high": test["ci_high"] if test else None,
                    "p_value": test["p_value"] if test else None,
                }
            )
    return Comparison(
        table=table,
        long=pd.DataFrame(long_rows),
        best=best,
        primary=LABEL_PRIMARY,
        repeats=1,
        per_label=pd.DataFrame(per_label),
    )


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}"


def _with_ci(value: Any, low: Any, high: Any) -> str:
    ci = f" [{_fmt(low)}, {_fmt(high)}]" if low is not None and pd.notna(low) else ""
    return _fmt(value) + ci


def label_tables(comparison: Comparison) -> tuple[list[str], list[list[str]], list[str], list[list[str]]]:
    """The two tables of a multi-label comparison, cells formatted: ``(headers, rows)`` of the runs (macro and
    micro AUROC, mAP with CIs, cost) and of the labels (each run's AUROC, the difference to the best with its
    CI and DeLong's p-value)."""
    run_headers = [
        "variant",
        "macro AUROC",
        "micro AUROC",
        "mAP",
        "best epoch",
        "params",
        "GMACs",
        "train time (s)",
    ]
    run_rows = [
        [
            str(row["variant"]),
            *(_with_ci(row[m], row[f"{m}_ci_low"], row[f"{m}_ci_high"]) for m in LABEL_METRICS),
            *cost_cells(row),
        ]
        for _, row in comparison.table.iterrows()
    ]
    label_headers = ["label", "variant", "AUROC", f"difference {comparison.best} - variant", "DeLong p"]
    per_label = comparison.per_label if comparison.per_label is not None else pd.DataFrame()
    label_rows = [
        [
            str(row["label"]),
            str(row["variant"]),
            _with_ci(row["auroc"], row["auroc_ci_low"], row["auroc_ci_high"]),
            "(best)"
            if row["variant"] == comparison.best
            else _with_ci(row["difference"], row["difference_ci_low"], row["difference_ci_high"]),
            "" if row["variant"] == comparison.best else _fmt(row["p_value"], 4),
        ]
        for _, row in per_label.sort_values(["label"], kind="stable").iterrows()
    ]
    return run_headers, run_rows, label_headers, label_rows


def label_legend(comparison: Comparison) -> str:
    """What the multi-label tables' numbers are."""
    n_test = int(comparison.table["n_test"].iloc[0])
    return (
        f"Test split: {n_test} images. Figures: value [95% bootstrap CI] from each run's test_metrics.json. Best "
        f"run by test macro AUROC: {comparison.best}. Per label: the best run's AUROC minus the variant's on the "
        "same test images with its 95% interval and the two-sided p-value of DeLong's test for correlated ROC "
        "curves (uncertain labels left out; p-values not adjusted for the number of labels)."
    )


def _markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] * len(headers)) + "|"]
    return lines + ["| " + " | ".join(cells) + " |" for cells in rows]


def label_markdown(comparison: Comparison) -> str:
    """The multi-label comparison as Markdown: the runs' table, the per-label table and the legend."""
    run_headers, run_rows, label_headers, label_rows = label_tables(comparison)
    return "\n".join(
        [
            *_markdown_table(run_headers, run_rows),
            "",
            *_markdown_table(label_headers, label_rows),
            "",
            label_legend(comparison),
            "",
        ]
    )
