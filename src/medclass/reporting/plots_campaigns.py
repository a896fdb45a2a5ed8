"""Plots of a tuning study (from its trials table) and of a comparison (from its table and learning curves).

Study plots read the trials table written to ``trials.csv`` (``number, state, value, param_<name>...``), so
they can be redrawn from the file alone. Matplotlib only (no plotly): the PNGs go into reports as they are.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from medclass.reporting.plots import plot_metric_bars, plot_overlaid_curves
from medclass.reporting.plots_common import (
    check_columns,
    class_colors,
    new_figure,
    save_figure,
    styled,
    wrap_label,
)

__all__ = [
    "plot_comparison",
    "plot_optimization_history",
    "plot_parallel_coordinates",
    "plot_param_importances",
    "plot_scatter_3d",
]


def _complete(table: pd.DataFrame) -> pd.DataFrame:
    check_columns(table, ["number", "state", "value"], "trials table")
    rows = table[(table["state"] == "COMPLETE") & table["value"].notna()]
    if rows.empty:
        raise ValueError("the trials table has no complete trial with a value")
    return rows.sort_values("number")


@styled
def plot_optimization_history(
    table: pd.DataFrame, path: str | os.PathLike, objective: str = "objective", direction: str = "minimize"
) -> Path:
    """The objective of every complete trial (points), the best value so far (line) and pruned trials
    (grey vertical lines).

    Args:
        table: the trials table.
        path: PNG to write.
        objective: y-axis label, e.g. ``val_loss (mean of folds)``.
        direction: ``minimize`` or ``maximize``: which way "best so far" runs.

    Raises:
        ValueError: no complete trial.
    """
    rows = _complete(table)
    numbers, values = rows["number"].to_numpy(), rows["value"].to_numpy(dtype=float)
    best = np.minimum.accumulate(values) if direction == "minimize" else np.maximum.accumulate(values)
    fig = new_figure(7.0, 4.2)
    ax = fig.subplots()
    ax.scatter(numbers, values, color="tab:blue", s=22, label="trial", zorder=3)
    ax.step(numbers, best, where="post", color="tab:red", linewidth=1.6, label="best so far")
    pruned = table[table["state"] == "PRUNED"]
    for i, number in enumerate(pruned["number"]):  # pruned trials have no objective: a grey line marks them
        ax.axvline(number, color="0.85", linewidth=0.8, zorder=0, label="pruned" if i == 0 else None)
    ax.set_xlabel("trial")
    ax.set_ylabel(objective)
    ax.set_title(f"Optimisation history ({len(rows)} complete, {len(pruned)} pruned)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(True)
    ax.legend(loc="best", frameon=False)
    return save_figure(fig, path)


@styled
def plot_param_importances(importances: Mapping[str, float], path: str | os.PathLike) -> Path:
    """Horizontal bars of parameter importances (e.g. ``optuna.importance.get_param_importances``: fANOVA,
    normalised to sum to 1), most important on top.

    Raises:
        ValueError: ``importances`` is empty.
    """
    if not importances:
        raise ValueError("importances is empty")
    items = sorted(importances.items(), key=lambda kv: kv[1])
    fig = new_figure(6.5, max(2.2, 0.45 * len(items) + 1.2))
    ax = fig.subplots()
    y = np.arange(len(items))
    ax.barh(y, [v for _, v in items], color="tab:blue", edgecolor="0.2", linewidth=0.6)
    ax.set_yticks(y, [wrap_label(k, 28, 2) for k, _ in items])
    for yi, (_, value) in zip(y, items, strict=True):
        ax.annotate(
            f"{value:.2f}", (value, yi), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8
        )
    ax.set_xlabel("importance (fANOVA, sums to 1)")
    ax.set_xlim(0, max(v for _, v in items) * 1.18 or 1)
    ax.set_title("Parameter importances")
    ax.grid(True, axis="x")
    return save_figure(fig, path)


def _axis_values(column: pd.Series, log: bool) -> tuple[np.ndarray, list[float] | None, list[str] | None]:
    """Numbers for one parameter axis, and tick positions/labels for a categorical one."""
    numeric = pd.to_numeric(column, errors="coerce")
    if numeric.notna().all():
        values = numeric.to_numpy(dtype=float)
        return (np.log10(values) if log else values), None, None
    labels = sorted(column.astype(str).unique())
    codes = column.astype(str).map({label: i for i, label in enumerate(labels)}).to_numpy(dtype=float)
    return codes, list(range(len(labels))), labels


@styled
def plot_parallel_coordinates(
    table: pd.DataFrame,
    params: Sequence[str],
    path: str | os.PathLike,
    objective: str = "objective",
    log_params: Sequence[str] = (),
) -> Path:
    """One polyline per complete trial across the parameter axes and the objective, coloured by the objective.

    Each axis is scaled to its own range; numeric axes are labelled with their min and max (``log10`` for
    ``log_params``), categorical axes with their choices.

    Raises:
        ValueError: no complete trial or a parameter without a ``param_<name>`` column.
    """
    rows = _complete(table)
    check_columns(rows, [f"param_{p}" for p in params], "trials table")
    axes_data = []
    for name in params:
        values, ticks, labels = _axis_values(rows[f"param_{name}"], name in log_params)
        axes_data.append((name + (" (log10)" if name in log_params else ""), values, ticks, labels))
    objective_values = rows["value"].to_numpy(dtype=float)
    axes_data.append((objective, objective_values, None, None))

    scaled = []
    for _, values, ticks, _ in axes_data:
        low, high = (0.0, max(len(ticks) - 1, 1)) if ticks is not None else (np.min(values), np.max(values))
        span = high - low if high > low else 1.0
        scaled.append((values - low) / span)
    matrix = np.vstack(scaled).T  # (trials, axes)

    fig = new_figure(max(6.0, 1.6 * len(axes_data) + 1.5), 4.6)
    ax = fig.subplots()
    cmap = _colormap()
    span = np.ptp(objective_values) or 1.0
    shades = (objective_values - objective_values.min()) / span
    x = np.arange(len(axes_data))
    for line, shade in zip(matrix, shades, strict=True):
        ax.plot(x, line, color=cmap(shade), alpha=0.8, linewidth=1.4)
    for xi, (_, values, ticks, labels) in zip(x, axes_data, strict=True):
        ax.axvline(xi, color="0.3", linewidth=0.8)
        if ticks is not None:
            top = max(len(ticks) - 1, 1)
            for tick, label in zip(ticks, labels, strict=True):
                ax.annotate(
                    wrap_label(label, 14, 2),
                    (xi, tick / top),
                    xytext=(4, 0),
                    textcoords="offset points",
                    fontsize=7,
                    va="center",
                )
        else:
            for position, value in ((0.0, np.min(values)), (1.0, np.max(values))):
                ax.annotate(
                    f"{value:.3g}",
                    (xi, position),
                    xytext=(4, 0),
                    textcoords="offset points",
                    fontsize=7,
                    va="center",
                )
    ax.set_xticks(x, [wrap_label(name, 16, 2) for name, *_ in axes_data])
    ax.set_yticks([])
    ax.set_ylim(-0.05, 1.05)
    ax.spines["left"].set_visible(False)
    ax.set_title("Parallel coordinates (colour: objective)")
    mappable = _scalar_mappable(cmap, objective_values)
    fig.colorbar(mappable, ax=ax, label=objective, fraction=0.04)
    return save_figure(fig, path)


def _colormap():
    import matplotlib

    return matplotlib.colormaps["viridis"]


def _scalar_mappable(cmap, values: np.ndarray):
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    high = float(values.max()) if values.max() > values.min() else float(values.min()) + 1e-12
    return ScalarMappable(norm=Normalize(float(values.min()), high), cmap=cmap)


@styled
def plot_scatter_3d(
    table: pd.DataFrame,
    x: str,
    y: str,
    path: str | os.PathLike,
    objective: str = "objective",
    color_by: str | None = None,
    log_params: Sequence[str] = (),
) -> Path:
    """Two parameters against the objective in 3D, one point per complete trial (as the batch size x learning
    rate x minimum validation loss figure of the binary brain MRI study), coloured by a categorical parameter
    (e.g. the model) when ``color_by`` is given.

    Raises:
        ValueError: no complete trial or a missing ``param_<name>`` column.
    """
    rows = _complete(table)
    wanted = [f"param_{x}", f"param_{y}"] + ([f"param_{color_by}"] if color_by else [])
    check_columns(rows, wanted, "trials table")
    xs, xticks, xlabels = _axis_values(rows[f"param_{x}"], x in log_params)
    ys, yticks, ylabels = _axis_values(rows[f"param_{y}"], y in log_params)
    zs = rows["value"].to_numpy(dtype=float)
    fig = new_figure(6.8, 5.6)
    ax = fig.add_subplot(projection="3d")
    if color_by:
        groups = rows[f"param_{color_by}"].astype(str)
        names = sorted(groups.unique())
        for name, color in zip(names, class_colors(len(names)), strict=True):
            mask = (groups == name).to_numpy()
            ax.scatter(xs[mask], ys[mask], zs[mask], color=color, s=30, depthshade=False, label=name)
        ax.legend(loc="upper left", frameon=False, title=color_by)
    else:
        ax.scatter(xs, ys, zs, c=zs, cmap=_colormap(), s=30, depthshade=False)
    for set_ticks, ticks, labels in ((ax.set_xticks, xticks, xlabels), (ax.set_yticks, yticks, ylabels)):
        if ticks is not None:
            set_ticks(ticks, [wrap_label(label, 10, 2) for label in labels])
    ax.set_xlabel(x + (" (log10)" if x in log_params else ""))
    ax.set_ylabel(y + (" (log10)" if y in log_params else ""))
    ax.set_zlabel(objective)
    ax.set_title(f"{x} x {y} vs {objective}")
    return save_figure(fig, path)


def plot_comparison(
    table: pd.DataFrame,
    curves: Mapping[str, pd.DataFrame],
    out_dir: str | os.PathLike,
    metrics: Sequence[str] = ("accuracy", "macro_f1", "auroc"),
    curve_columns: Sequence[str] = ("val_loss", "val_accuracy"),
) -> list[Path]:
    """Metric bars with CIs (one PNG per metric) and overlaid learning curves (one PNG per column).

    Args:
        table: the long-form comparison table: ``variant, metric, value, ci_low, ci_high``.
        curves: variant -> its metrics.csv table.
        out_dir: where the PNGs go (``bars_<metric>.png``, ``curves_<column>.png``).
        metrics: metrics to draw bars for (those without values are skipped).
        curve_columns: per-epoch columns to overlay.

    Returns:
        The PNGs written.
    """
    out_dir = Path(out_dir)
    written = []
    for metric in metrics:
        rows = table[(table["metric"] == metric) & table["value"].notna()]
        if not rows.empty:
            written.append(plot_metric_bars(rows, metric, out_dir / f"bars_{metric}.png"))
    for column in curve_columns:
        if any(column in c.columns and c[column].notna().any() for c in curves.values()):
            written.append(plot_overlaid_curves(dict(curves), column, out_dir / f"curves_{column}.png"))
    return written
