"""The class-and-split sanity check and the leak note, run once the splits are final, whatever their source.

Discovery can only count files; only after unreadable files are dropped and splits are assigned (by medclass
from folders or a CSV manifest, by a pre-split layout, or by a ``--splits`` file) is it known whether a class
can be learned and graded. :func:`check_class_splits` refuses a table in which a class is missing from train
(or from val, where there is a val), or has fewer than ``data.min_images_per_class`` images: such a run would
finish with exit 0 and a model that can never predict that class, or with a one-image class that is almost
always a typo'd label. :func:`leak_note` words a duplicate that crosses splits the same way for every source.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from medclass.utils.errors import DataError

if TYPE_CHECKING:
    from medclass.data.duplicates import DuplicateReport

_MIN_KEY = "data.min_images_per_class"


def check_class_splits(
    table: pd.DataFrame, classes: Sequence[str], min_images: int, source: str = "the data"
) -> None:
    """Refuse splits in which a class cannot be learned or graded.

    Args:
        table: the readable rows only, with ``label`` and ``split`` (folds already turned into train/val).
        classes: every class the run will have (a class without any readable image counts as 0 images).
        min_images: the fewest images a class may have over all splits (``data.min_images_per_class``).
        source: the file or folder the table came from, named in the message.

    Raises:
        DataError: naming each class, its counts and what is expected; a class name close to another one
            (``Yes``/``yes``, ``yse``/``yes``) gets a "did you mean" hint, since that is usually a label typo.
    """
    counts = pd.crosstab(table["label"], table["split"]) if len(table) else pd.DataFrame()
    total = {c: int(counts.loc[c].sum()) if c in counts.index else 0 for c in classes}
    problems = []
    small = [c for c in classes if total[c] < min_images]
    for name in small:
        problems.append(
            f"class {name!r} has {total[name]} readable image(s), fewer than {_MIN_KEY} = {min_images}"
            f"{_typo_hint(name, [c for c in classes if c not in small])}"
        )
    needed = ["train", "val"] if len(table) and "val" in counts.columns else ["train"]
    for name in (c for c in classes if c not in small):
        split = next((s for s in needed if _count(counts, name, s) == 0), None)
        if split is not None:
            problems.append(
                f"class {name!r} has no image in the {split} split ({_per_split(counts, name)}): a model "
                f"{'cannot learn it' if split == 'train' else 'cannot be validated on it'}"
            )
    if problems:
        hint = f"\n  fix the labels or the splits, or lower {_MIN_KEY} (--set {_MIN_KEY}=N)" if small else ""
        raise DataError(
            f"{source}: {len(problems)} problem(s) with the classes:\n  " + "\n  ".join(problems) + hint
        )


def leak_note(report: DuplicateReport) -> str | None:
    """The warning for duplicate groups whose copies lie in different splits, or None when there are none."""
    leaks = [g for g in [*report.exact, *report.near] if g.split_leak]
    if not leaks:
        return None
    example = ", ".join(leaks[0].paths[:2])
    return (
        f"{len(leaks)} duplicate group(s) cross the given splits (e.g. {example}); kept as given, so test "
        "scores can be inflated: run `medclass inspect` for the list"
    )


def _count(counts: pd.DataFrame, name: str, split: str) -> int:
    if name not in counts.index or split not in counts.columns:
        return 0
    return int(counts.at[name, split])


def _per_split(counts: pd.DataFrame, name: str) -> str:
    parts = [
        f"{split} {_count(counts, name, split)}" for split in ("train", "val", "test") if split in counts
    ]
    return ", ".join(parts) or "no readable image"


def _typo_hint(name: str, others: Sequence[str]) -> str:
    same_case = [o for o in others if o.lower() == name.lower()]
    close = same_case or difflib.get_close_matches(name.lower(), [o.lower() for o in others], n=1, cutoff=0.6)
    if not close:
        return ""
    match = next(o for o in others if o.lower() == close[0])
    return f"; did you mean {match!r}? (a typo in a label would make a class of its own)"
