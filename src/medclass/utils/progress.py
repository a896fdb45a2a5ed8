"""Progress of a long step (hashing, decoding, caching, training): a live bar in a terminal, plain lines elsewhere.

In a terminal the bar (rich) shows the count, the time spent and the time left, and disappears when the step is
done, so the scroll-back keeps only the lines medclass prints. When the output is a file or a pipe there are no
bars and no control codes: one line when the step ends (and one every ``PLAIN_EVERY_S`` seconds while it runs),
each with the count and the time, so a log shows how far a step got and how long it took.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from medclass.utils.console import default_console

T = TypeVar("T")

# A step that runs longer than this prints a plain line this often (non-terminal output only).
PLAIN_EVERY_S = 30.0


def clock(seconds: float) -> str:
    """``H:MM:SS`` (or ``M:SS`` under an hour) of a duration in seconds."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def eta_seconds(elapsed: float, done: float, total: float) -> float | None:
    """Seconds left when ``done`` of ``total`` units took ``elapsed`` seconds at a steady rate (None: unknown)."""
    if done <= 0 or total <= 0 or elapsed <= 0:
        return None
    return max(0.0, elapsed * (total - done) / done)


def bar_columns() -> tuple:
    """The columns of every medclass bar: what, the bar, count, time spent, time left."""
    return (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )


@contextmanager
def progress_task(
    description: str, total: int, console: Console | None = None, unit: str = "files"
) -> Iterator[Callable[[int], None]]:
    """Yields ``advance(n)`` for a step of ``total`` units.

    Args:
        description: what the step does (``hashing``, ``decoding``).
        total: units in the step; a step of 0 units shows and prints nothing.
        console: where the bar or the lines go (default: standard output).
        unit: the units' name in the plain lines.
    """
    console = console or default_console()
    if total <= 0:
        yield lambda n: None
        return
    if console.is_terminal:
        with Progress(*bar_columns(), console=console, transient=True) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n: bar.advance(task, n)
        return
    started = time.perf_counter()
    state = {"done": 0, "shown": started}

    def advance(n: int) -> None:
        state["done"] += n
        now = time.perf_counter()
        if now - state["shown"] >= PLAIN_EVERY_S and state["done"] < total:
            state["shown"] = now
            left = eta_seconds(now - started, state["done"], total)
            console.print(
                f"  {description} {state['done']}/{total} {unit}, {clock(now - started)} so far, about "
                f"{clock(left or 0)} left",
                highlight=False,
            )

    yield advance
    console.print(
        f"  {description} {state['done']}/{total} {unit} in {time.perf_counter() - started:.1f} s",
        highlight=False,
    )


def track(
    items: Iterable[T], description: str, total: int, console: Console | None = None, unit: str = "files"
) -> Iterator[T]:
    """``items`` with the progress of :func:`progress_task` (one unit per item)."""
    with progress_task(description, total, console, unit) as advance:
        for item in items:
            yield item
            advance(1)
