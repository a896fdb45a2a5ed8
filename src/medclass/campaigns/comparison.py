"""The comparison table of finished runs: test metrics with CIs, cost, and McNemar tests against the best.

Everything is read from the run folders (``config.yaml``, ``metrics.csv``, ``test_metrics.json``,
``predictions_test.csv``), never from live training objects, so ``medclass compare RUN_DIR...`` works on any
finished runs.

- One run per variant: each metric with its bootstrap 95% CI from ``test_metrics.json``.
- Several runs (seeds) per variant: mean and sample std over the runs; the CI drawn in the bar plots is the
  t-interval of the mean (mean +/- t(0.975, R-1) * std / sqrt(R)).
- ``best_epoch``: the epoch of metrics.csv with the best ``trainer.monitor`` (the kept checkpoint).
- ``params``/``gmacs``: of the model the config describes (multiply-accumulates per image, see
  :mod:`medclass.models.profile`); ``train_seconds``: the sum of metrics.csv's per-epoch times.
- McNemar: the best variant (highest mean of the primary metric) against each other one on the same test
  images, pairing runs of equal seed order. With several seeds the reported p-value is the largest one: the
  difference counts as real only if it is significant for every seed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from medclass.config import build_config
from medclass.evaluation.stats import mcnemar_test
from medclass.models import count_macs, count_parameters, create_model_from_config
from medclass.runs import (
    CONFIG_FILE,
    METRICS_FILE,
    TEST_METRICS_FILE,
    TEST_PREDICTIONS_FILE,
    RunFiles,
    load_run,
)
from medclass.utils.errors import DataError, RunDirError

METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "auroc")
PRIMARY_METRIC = "macro_f1"
REQUIRED_FILES = (METRICS_FILE, TEST_METRICS_FILE, TEST_PREDICTIONS_FILE)


@dataclass
class Comparison:
    """The comparison of several variants.

    Attributes:
        table: one row per variant (the CSV): metrics (+ CI or std), cost, McNemar columns.
        long: ``variant, metric, value, ci_low, ci_high`` (for the bar plots).
        best: the variant the others are tested against.
        primary: the metric that picked ``best``.
        repeats: runs per variant (the largest).
        per_label: multi-label runs only (None for single-label ones): one row per variant and label, the
            label's AUROC with its CI and DeLong's test against the best variant
            (:mod:`medclass.campaigns.label_comparison`).
    """

    table: pd.DataFrame
    long: pd.DataFrame
    best: str
    primary: str
    repeats: int
    per_label: pd.DataFrame | None = None


def load_finished_run(run_dir: str | Path) -> RunFiles:
    """Read a finished run folder with a test split.

    Raises:
        RunDirError: a required file is missing (named), e.g. the run has no test split or is unfinished.
    """
    run = load_run(run_dir)
    run.require(*REQUIRED_FILES, purpose="compare needs finished runs trained with a test split")
    return run


def model_cost(run: RunFiles, cache: dict[str, tuple[int, int]] | None = None) -> tuple[int, int]:
    """``(parameters, MACs per image)`` of the model the run's config describes (weights are not needed)."""
    config = build_config(run.config, source=str(run.run_dir / CONFIG_FILE))
    num_classes = len(run.test_metrics.get("classes") or run.test_metrics["labels"])  # labels: multi-label
    key = json.dumps(
        [config.model.model_dump(mode="json"), config.data.image_size, config.data.channels, num_classes]
    )
    if cache is not None and key in cache:
        return cache[key]
    model = create_model_from_config(config, num_classes=num_classes, pretrained=False)
    cost = (count_parameters(model)["total"], count_macs(model, config.data.image_size, config.data.channels))
    if cache is not None:
        cache[key] = cost
    return cost


def correct_by_path(run: RunFiles) -> pd.Series:
    """True/False per test image (indexed by path): prediction equals label."""
    table = run.predictions
    if not {"path", "label", "prediction"} <= set(table.columns):
        raise RunDirError(f"{run.run_dir / TEST_PREDICTIONS_FILE}: needs columns path, label, prediction")
    return pd.Series((table["prediction"] == table["label"]).to_numpy(), index=table["path"].astype(str))


def paired_correct(a: RunFiles, b: RunFiles) -> tuple[np.ndarray, np.ndarray]:
    """Correctness of two runs on the same test images, aligned by path.

    Raises:
        DataError: the runs were tested on different images (counts of the differences named) or labelled the
            same image differently.
    """
    left, right = correct_by_path(a), correct_by_path(b)
    only_a, only_b = left.index.difference(right.index), right.index.difference(left.index)
    if len(only_a) or len(only_b):
        example = (list(only_a) or list(only_b))[0]
        raise DataError(
            f"{a.run_dir} and {b.run_dir} were tested on different images ({len(only_a)} only in the first, "
            f"{len(only_b)} only in the second, e.g. {example}); McNemar's test needs the same test split: "
            "train both with the same data, split strategy and split.seed"
        )
    labels_a = a.predictions.set_index("path")["label"]
    labels_b = b.predictions.set_index("path")["label"].reindex(labels_a.index)
    if (labels_a != labels_b).any():
        raise DataError(f"{a.run_dir} and {b.run_dir} give different labels to the same test images")
    return left.to_numpy(dtype=bool), right.reindex(left.index).to_numpy(dtype=bool)


def _ci_of_mean(values: np.ndarray) -> tuple[float, float]:
    if values.size < 2:
        return math.nan, math.nan
    half = stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size)
    return float(values.mean() - half), float(values.mean() + half)


def _metric_value(test: Mapping[str, Any], metric: str) -> float:
    value = test.get(metric)
    return float(value) if isinstance(value, int | float) else math.nan


def _metric_ci(test: Mapping[str, Any], metric: str) -> tuple[float, float]:
    ci = (test.get("ci") or {}).get(metric) or {}
    low, high = ci.get("ci_low"), ci.get("ci_high")
    return (float(low) if low is not None else math.nan), (float(high) if high is not None else math.nan)


def cost_columns(items: Sequence[RunFiles], cost_cache: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """The columns of a variant's row after its metrics: best epoch(s), parameters, GMACs, mean training time,
    test images and the run folders."""
    epochs = [r.best_epoch for r in items]
    params, macs = model_cost(items[0], cost_cache)
    return {
        "best_epoch": epochs[0] if len(items) == 1 else "/".join(str(e) for e in epochs),
        "params": params,
        "gmacs": macs / 1e9,
        "train_seconds": float(np.mean([pd.to_numeric(r.metrics["seconds"]).sum() for r in items])),
        "n_test": int(items[0].test_metrics["n"]),
        "run_dirs": ";".join(str(r.run_dir) for r in items),
    }


def compare_runs(
    runs: Mapping[str, Sequence[str | Path]], primary: str = PRIMARY_METRIC, metrics: Sequence[str] = METRICS
) -> Comparison:
    """Build the comparison of ``{variant: [run folders]}`` (one folder per seed).

    Args:
        runs: variant name -> its finished run folders (at least one each).
        primary: the test metric that picks the best variant (higher is better).
        metrics: test metrics to tabulate.

    Returns:
        The :class:`Comparison`.

    Raises:
        RunDirError: an unfinished run folder; DataError: runs tested on different images.
    """
    if not runs:
        raise RunDirError("nothing to compare: give at least two run folders or a grid")
    loaded = {variant: [load_finished_run(d) for d in dirs] for variant, dirs in runs.items()}
    empty = [variant for variant, items in loaded.items() if not items]
    if empty:
        raise RunDirError(f"variants without a run: {', '.join(empty)}")
    repeats = max(len(items) for items in loaded.values())
    cost_cache: dict[str, tuple[int, int]] = {}
    rows, long_rows = [], []
    for variant, items in loaded.items():
        row: dict[str, Any] = {"variant": variant, "runs": len(items)}
        for metric in metrics:
            values = np.array([_metric_value(r.test_metrics, metric) for r in items])
            if len(items) == 1:
                low, high = _metric_ci(items[0].test_metrics, metric)
                row.update({metric: values[0], f"{metric}_ci_low": low, f"{metric}_ci_high": high})
            else:
                low, high = _ci_of_mean(values)
                row.update({metric: float(values.mean()), f"{metric}_std": float(values.std(ddof=1))})
            long_rows.append(
                {"variant": variant, "metric": metric, "value": row[metric], "ci_low": low, "ci_high": high}
            )
        row.update(cost_columns(items, cost_cache))
        rows.append(row)
    table = pd.DataFrame(rows)
    best = str(table.loc[table[primary].fillna(-math.inf).idxmax(), "variant"])
    _add_mcnemar(table, loaded, best)
    return Comparison(table=table, long=pd.DataFrame(long_rows), best=best, primary=primary, repeats=repeats)


def _add_mcnemar(table: pd.DataFrame, loaded: Mapping[str, list[RunFiles]], best: str) -> None:
    """``mcnemar_b`` (best right, other wrong), ``mcnemar_c`` (the reverse) and ``mcnemar_p`` per variant."""
    columns: dict[str, list[Any]] = {"mcnemar_b": [], "mcnemar_c": [], "mcnemar_p": [], "mcnemar_method": []}
    for variant in table["variant"]:
        if variant == best:
            for values in columns.values():
                values.append(None)
            continue
        tests = []
        for a, b in zip(loaded[best], loaded[variant], strict=False):
            tests.append(mcnemar_test(*paired_correct(a, b)))
        worst = max(tests, key=lambda t: t["p_value"])
        columns["mcnemar_b"].append("/".join(str(t["b"]) for t in tests))
        columns["mcnemar_c"].append("/".join(str(t["c"]) for t in tests))
        columns["mcnemar_p"].append(worst["p_value"])
        columns["mcnemar_method"].append(worst["method"])
    for name, values in columns.items():
        table[name] = values


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}"


def metric_cell(row: pd.Series, metric: str) -> str:
    """``0.912 [0.850, 0.960]`` (value and CI) or ``0.912 ± 0.010`` (mean and std over seeds)."""
    if row["runs"] > 1 and f"{metric}_std" in row:
        return f"{_fmt(row[metric])} ± {_fmt(row[f'{metric}_std'])}"
    low, high = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
    ci = f" [{_fmt(low)}, {_fmt(high)}]" if low is not None and pd.notna(low) else ""
    return _fmt(row[metric]) + ci


def cost_cells(row: pd.Series) -> list[str]:
    """Best epoch, parameters, GMACs and training time of a table row, formatted."""
    epoch = row["best_epoch"]
    return [
        "-" if epoch is None or (isinstance(epoch, float) and math.isnan(epoch)) else str(epoch),
        f"{int(row['params']):,}",
        f"{row['gmacs']:.3g}",
        _fmt(row["train_seconds"], 1),
    ]


def mcnemar_cell(row: pd.Series) -> str:
    """``0.0391 (b=10, c=2)``."""
    return f"{row['mcnemar_p']:.3g} (b={row['mcnemar_b']}, c={row['mcnemar_c']})"


TABLE_HEADER = ("best epoch", "params", "GMACs", "train time (s)")


def to_markdown(comparison: Comparison, metrics: Sequence[str] = ("accuracy", "macro_f1", "auroc")) -> str:
    """The comparison as a Markdown table with a legend (CIs or mean +/- std, McNemar against the best)."""
    table = comparison.table
    header = ["variant", *metrics, *TABLE_HEADER, f"McNemar p vs {comparison.best}"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    for _, row in table.iterrows():
        cells = [f"**{row['variant']}**" if row["variant"] == comparison.best else str(row["variant"])]
        cells += [metric_cell(row, metric) for metric in metrics]
        cells += cost_cells(row)
        cells.append("(best)" if row["variant"] == comparison.best else mcnemar_cell(row))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + legend(comparison, bold="**") + "\n"


def legend(comparison: Comparison, bold: str = "") -> str:
    """What the table's numbers are: CIs or mean/std, the best variant, how McNemar was applied, GMACs."""
    n_test = int(comparison.table["n_test"].iloc[0])
    if comparison.repeats > 1:
        spread = f"mean ± std over {comparison.repeats} seeds"
    else:
        spread = "value [95% stratified bootstrap CI]"
    return (
        f"Test split: {n_test} images. Metrics: {spread}. Best variant by test {comparison.primary}: "
        f"{bold}{comparison.best}{bold}. McNemar: best vs each variant on the same test images (b: best right and "
        "other wrong, c: the reverse; exact binomial below 25 discordant images)"
        + (
            "; with several seeds, per-seed counts and the largest p-value."
            if comparison.repeats > 1
            else "."
        )
        + " GMACs: multiply-accumulates per image (torchvision's 'GFLOPS' convention)."
    )
