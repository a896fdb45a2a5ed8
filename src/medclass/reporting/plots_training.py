"""Plots of tables: learning curves, curves of several runs, metric bars with CIs, class distribution."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from medclass.reporting.plots_common import (
    check_columns,
    class_colors,
    integer_ticks,
    needs_rotation,
    new_figure,
    save_figure,
    styled,
    wrap_label,
)

# (panel title, y label, train column, val column) of plot_learning_curves.
_PANELS = (
    ("Loss", "loss", "train_loss", "val_loss"),
    ("Accuracy", "accuracy", "train_accuracy", "val_accuracy"),
)
_SPLIT_ORDER = ("train", "val", "validation", "test")


def _series(table: pd.DataFrame, x: str, column: str) -> tuple[np.ndarray, np.ndarray]:
    """x and y of one column without its missing rows (Lightning logs train and val on separate rows)."""
    rows = table[[x, column]].apply(pd.to_numeric, errors="coerce").dropna()
    rows = rows.groupby(x, sort=True)[column].last()  # one value per epoch, the last logged
    return rows.index.to_numpy(dtype=float), rows.to_numpy(dtype=float)


def _marker(n_points: int) -> str | None:
    return "o" if n_points <= 40 else None


def _integer_epochs(ax, xs: list[np.ndarray]) -> None:
    """Whole-number epoch ticks, with room around a run of one or two epochs."""
    values = np.concatenate([x for x in xs if x.size]) if xs else np.empty(0)
    if values.size and values.max() - values.min() < 2:
        low, high = int(np.floor(values.min())), int(np.ceil(values.max()))
        ax.set_xlim(low - 1, high + 1)
        ax.set_xticks(np.arange(low - 1, high + 2))
    else:
        ax.xaxis.get_major_locator().set_params(integer=True)


@styled
def plot_learning_curves(
    metrics: pd.DataFrame, path: str | os.PathLike, best_epoch: int | None = None
) -> Path:
    """Loss and accuracy per epoch, train vs validation, in two panels.

    Args:
        metrics: one row per epoch with ``epoch`` and any of ``train_loss``, ``val_loss``,
            ``train_accuracy``, ``val_accuracy`` (other columns are ignored; missing values are skipped).
        path: PNG to write.
        best_epoch: marked with a dashed vertical line in both panels (the checkpoint that was kept).

    Returns:
        ``Path(path)``.

    Raises:
        ValueError: no ``epoch`` column, or none of the four curve columns holds a value.
    """
    check_columns(metrics, ["epoch"], "metrics")
    panels = []
    for title, ylabel, train_col, val_col in _PANELS:
        curves = [
            (label, *_series(metrics, "epoch", col))
            for label, col in (("train", train_col), ("validation", val_col))
            if col in metrics.columns
        ]
        curves = [c for c in curves if c[1].size]
        if curves:
            panels.append((title, ylabel, curves))
    if not panels:
        raise ValueError(
            "metrics has no values in any of train_loss, val_loss, train_accuracy, val_accuracy; "
            f"columns are {list(metrics.columns)}"
        )
    fig = new_figure(5.2 * len(panels), 4.0)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    colors = {"train": "tab:blue", "validation": "tab:orange"}
    for ax, (title, ylabel, curves) in zip(axes, panels, strict=True):
        for label, x, y in curves:
            ax.plot(
                x, y, label=label, color=colors[label], marker=_marker(x.size), markersize=3.5, linewidth=1.6
            )
        if best_epoch is not None:
            ax.axvline(
                best_epoch, color="0.3", linestyle="--", linewidth=1.2, label=f"best epoch ({best_epoch})"
            )
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        if ylabel == "accuracy":
            low = min(float(np.min(y)) for _, _, y in curves)
            ax.set_ylim(max(0.0, min(low, 1.0) - 0.05), 1.01)
        _integer_epochs(ax, [x for _, x, _ in curves])
        ax.grid(True)
        ax.legend(loc="best", frameon=False)
    fig.suptitle("Learning curves")
    return save_figure(fig, path)


@styled
def plot_overlaid_curves(curves: dict[str, pd.DataFrame], column: str, path: str | os.PathLike) -> Path:
    """One metric per epoch for several runs on one axis (e.g. ``val_loss`` of each variant).

    Args:
        curves: variant name -> per-epoch table; the x axis is its ``epoch`` column (else the row number).
        column: the column to plot; variants without it are listed in the legend as "(no data)".
        path: PNG to write.

    Raises:
        ValueError: ``curves`` is empty or no table has a value in ``column``.
    """
    if not curves:
        raise ValueError("curves is empty: give at least one variant name -> per-epoch table")
    fig = new_figure(7.0, 4.3)
    ax = fig.subplots()
    plotted: list[np.ndarray] = []
    for (name, table), color in zip(curves.items(), class_colors(len(curves)), strict=True):
        if column not in table.columns:
            ax.plot([], [], color=color, label=f"{wrap_label(name, 40, 2)} (no data)")
            continue
        frame = table if "epoch" in table.columns else table.assign(epoch=np.arange(len(table)))
        x, y = _series(frame, "epoch", column)
        if x.size:
            plotted.append(x)
        ax.plot(x, y, color=color, label=wrap_label(name, 40, 2), marker=_marker(x.size), markersize=3)
    if not plotted:
        raise ValueError(f"no table in curves has values in column {column!r}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(column)
    ax.set_title(f"{column} per epoch")
    _integer_epochs(ax, plotted)
    ax.grid(True)
    if len(curves) > 8:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    else:
        ax.legend(loc="best", frameon=False)
    return save_figure(fig, path)


def _metric_values(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Rows ``variant, value, ci_low, ci_high`` from the long or the wide form of a comparison table."""
    check_columns(table, ["variant"])
    if "metric" in table.columns:  # long form: variant, metric, value[, ci_low, ci_high]
        check_columns(table, ["value"])
        rows = table[table["metric"] == metric]
        if rows.empty:
            raise ValueError(
                f"table has no rows with metric {metric!r}; metrics: {sorted(set(table['metric']))}"
            )
        values = rows["value"]
    elif metric in table.columns:  # wide form: variant, <metric>[, ci_low, ci_high]
        rows, values = table, table[metric]
    elif "value" in table.columns:
        rows, values = table, table["value"]
    else:
        raise ValueError(
            f"table has neither a 'metric'/'value' pair nor a {metric!r} column: {list(table.columns)}"
        )
    nan = pd.Series(np.nan, index=rows.index)
    return pd.DataFrame(
        {
            "variant": rows["variant"].astype(str),
            "value": pd.to_numeric(values, errors="coerce"),
            "ci_low": pd.to_numeric(rows.get("ci_low", nan), errors="coerce"),
            "ci_high": pd.to_numeric(rows.get("ci_high", nan), errors="coerce"),
        }
    ).reset_index(drop=True)


@styled
def plot_metric_bars(table: pd.DataFrame, metric: str, path: str | os.PathLike) -> Path:
    """One bar per run/variant with its confidence interval as an error bar.

    Args:
        table: ``variant`` plus either ``metric, value`` (long form, rows of ``metric`` are used) or a column
            named ``metric`` / ``value`` (wide form); optional ``ci_low``, ``ci_high`` (missing -> no bar).
        metric: the metric to show; also the y label.
        path: PNG to write.

    Raises:
        ValueError: missing columns (named) or no rows for ``metric``.
    """
    rows = _metric_values(table, metric)
    n = len(rows)
    fig = new_figure(max(4.5, 0.8 * n + 2.0), 4.2)
    ax = fig.subplots()
    x = np.arange(n)
    low = np.clip((rows["value"] - rows["ci_low"]).to_numpy(), 0, None)
    high = np.clip((rows["ci_high"] - rows["value"]).to_numpy(), 0, None)
    has_ci = np.isfinite(low) & np.isfinite(high)
    yerr = np.vstack([np.where(has_ci, low, 0.0), np.where(has_ci, high, 0.0)])
    ax.bar(x, rows["value"], color=class_colors(n), edgecolor="0.2", linewidth=0.6)
    if has_ci.any():
        ax.errorbar(
            x[has_ci], rows["value"][has_ci], yerr=yerr[:, has_ci], fmt="none", ecolor="0.1", capsize=4
        )
    values = rows["value"].to_numpy(dtype=float)
    tops = np.where(has_ci, values + np.nan_to_num(high), values)
    for xi, value, top in zip(x, values, tops, strict=True):
        if np.isfinite(value):
            ax.annotate(
                f"{value:.3f}", (xi, top), xytext=(0, 3), textcoords="offset points", ha="center", fontsize=8
            )
    finite = values[np.isfinite(values)]
    if finite.size and finite.min() >= 0 and np.nanmax(np.r_[finite, rows["ci_high"]]) <= 1:
        ax.set_ylim(0, 1.08)
    rotate = needs_rotation(rows["variant"].tolist(), 5, 10)
    labels = [wrap_label(v, 16) for v in rows["variant"]]
    ax.set_xticks(x, labels, rotation=30 if rotate else 0, ha="right" if rotate else "center")
    ax.set_xlabel("variant")
    ax.set_ylabel(metric)
    title = f"{metric} by variant"
    ax.set_title(title + (" (error bars: CI)" if has_ci.any() else ""))
    ax.grid(True, axis="y")
    return save_figure(fig, path)


@styled
def plot_class_distribution(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Image counts per class, grouped bars with one bar per split (counts written above the bars).

    Args:
        table: one row per image with columns ``label`` and ``split`` (e.g. ``splits.csv``).
        path: PNG to write.

    Raises:
        ValueError: a column is missing or the table is empty.
    """
    check_columns(table, ["label", "split"])
    if table.empty:
        raise ValueError("table is empty: no images to count")
    counts = pd.crosstab(table["label"].astype(str), table["split"].astype(str))
    known = [s for s in _SPLIT_ORDER if s in counts.columns]
    counts = counts[known + sorted(c for c in counts.columns if c not in known)]
    classes, splits = list(counts.index), list(counts.columns)
    n_classes, n_splits = len(classes), len(splits)
    fig = new_figure(max(5.0, n_classes * (0.35 * n_splits + 0.45) + 1.5), 4.3)
    ax = fig.subplots()
    width = 0.8 / n_splits
    x = np.arange(n_classes)
    colors = {"train": "tab:blue", "val": "tab:orange", "validation": "tab:orange", "test": "tab:green"}
    extra = iter(class_colors(n_splits + 3)[3:])
    for i, split in enumerate(splits):
        bars = ax.bar(
            x + (i - (n_splits - 1) / 2) * width,
            counts[split].to_numpy(),
            width,
            label=f"{split} ({int(counts[split].sum())})",
            color=colors.get(split) or next(extra),
        )
        ax.bar_label(bars, fontsize=7 if n_classes * n_splits > 24 else 8, padding=1)
    rotate = needs_rotation(classes)
    ax.set_xticks(
        x, [wrap_label(c) for c in classes], rotation=35 if rotate else 0, ha="right" if rotate else "center"
    )
    ax.set_xlabel("class")
    ax.set_ylabel("images")
    integer_ticks(ax.yaxis)
    ax.set_ylim(0, counts.to_numpy().max() * 1.3 + 1)  # headroom for the bar labels and the legend
    ax.set_title(f"Images per class and split (total {int(counts.to_numpy().sum())})")
    ax.legend(loc="upper center", ncol=n_splits, frameon=False)
    ax.grid(True, axis="y")
    return save_figure(fig, path)
