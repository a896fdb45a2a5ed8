"""File names of a split as compact ranges of a class's files in natural order (``img1.png-img6.png``), the
way published sorted-id protocols state which files are tested."""

from __future__ import annotations

from collections.abc import Sequence

# Runs shown per split before the rest is summarised as "+N more".
MAX_RUNS = 3


def name_runs(order: Sequence[str], inside: Sequence[bool]) -> list[tuple[str, str, int]]:
    """Runs of the names of ``order`` flagged in ``inside`` (same length) that are contiguous in ``order``:
    ``(first, last, count)`` each, in order.

    Example:
        >>> name_runs(["a1", "a2", "a3", "a4", "a5"], [True, True, False, True, False])
        [('a1', 'a2', 2), ('a4', 'a4', 1)]
    """
    runs: list[tuple[str, str, int]] = []
    current: list[str] = []
    for name, flag in zip(order, inside, strict=True):
        if flag:
            current.append(name)
        elif current:
            runs.append((current[0], current[-1], len(current)))
            current = []
    if current:
        runs.append((current[0], current[-1], len(current)))
    return runs


def compact_ranges(order: Sequence[str], inside: Sequence[bool], max_runs: int = MAX_RUNS) -> str:
    """The flagged names as ranges of ``order``: ``img1.png-img6.png (6)``, or for scattered files ``12 files
    in 9 runs: img2.png, img5.png-img6.png, img9.png, +6 more``; ``none`` when no name is flagged.

    Example:
        >>> compact_ranges(["a1", "a2", "a3", "a4", "a5"], [True, True, False, True, False])
        '3 files in 2 runs: a1-a2, a4'
    """
    runs = name_runs(order, inside)
    if not runs:
        return "none"

    def show(run: tuple[str, str, int]) -> str:
        return run[0] if run[2] == 1 else f"{run[0]}-{run[1]}"

    if len(runs) == 1:
        return f"{show(runs[0])} ({runs[0][2]})"
    shown = ", ".join(show(r) for r in runs[:max_runs])
    more = f", +{len(runs) - max_runs} more" if len(runs) > max_runs else ""
    return f"{sum(r[2] for r in runs)} files in {len(runs)} runs: {shown}{more}"
