"""Shared plumbing of the plot modules: one style, figure creation without pyplot, saving, label helpers.

Figures are built with :class:`matplotlib.figure.Figure` directly, never through ``pyplot``: nothing is ever
shown, no global figure list grows in long runs, and no GUI backend is needed (PNG output goes through Agg).
"""

from __future__ import annotations

import functools
import os
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import matplotlib
import numpy as np
from matplotlib.figure import Figure

DPI = 110

# Readable at report size: the HTML report shows figures about 700-900 px wide.
STYLE: dict[str, Any] = {
    "font.size": 10,
    "axes.titlesize": 12,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "figure.titlesize": 13,
    "axes.grid": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "grid.alpha": 0.3,
}

F = TypeVar("F", bound=Callable[..., Path])


def styled(func: F) -> F:
    """Run a plot function under :data:`STYLE` (restoring the caller's rcParams afterwards)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Path:
        with matplotlib.rc_context(STYLE):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def new_figure(width: float, height: float, **kwargs: Any) -> Figure:
    """A figure of ``width x height`` inches at :data:`DPI`, detached from pyplot."""
    return Figure(figsize=(width, height), dpi=DPI, **kwargs)


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    """Write ``fig`` as PNG (tight bounding box), creating the parent folder; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight", facecolor="white", format="png")
    return path


def wrap_label(text: str, width: int = 18, max_lines: int = 3) -> str:
    """Wrap a long class name over a few lines (and shorten beyond that) so tick labels stay readable."""
    lines = textwrap.wrap(str(text), width=width, break_long_words=True) or [""]
    if len(lines) > max_lines:
        lines = [
            *lines[: max_lines - 1],
            textwrap.shorten(" ".join(lines[max_lines - 1 :]), width, placeholder="…"),
        ]
    return "\n".join(lines)


def needs_rotation(labels: Sequence[str], n_max: int = 6, length_max: int = 8) -> bool:
    """Whether x tick labels should be rotated: many labels or long ones."""
    return len(labels) > n_max or any(len(str(label)) > length_max for label in labels)


def class_colors(n: int) -> list[Any]:
    """``n`` distinguishable colours: tab10 up to 10 classes, tab20 up to 20, then a sampled colormap."""
    if n <= 10:
        return [matplotlib.colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [matplotlib.colormaps["tab20"](i) for i in range(n)]
    return [matplotlib.colormaps["turbo"](x) for x in np.linspace(0.05, 0.95, n)]


def check_columns(table: Any, required: Sequence[str], name: str = "table") -> None:
    """Raise ``ValueError`` naming the missing columns of a DataFrame."""
    missing = [c for c in required if c not in getattr(table, "columns", [])]
    if missing:
        have = list(getattr(table, "columns", []))
        raise ValueError(f"{name} lacks column(s) {missing}; it has {have}")


def integer_ticks(axis: Any) -> None:
    """Whole-number ticks on an axis of counts (matplotlib would put 2.5 images between 2 and 3)."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))
