"""A data-quality report of a data set: counts, image sizes, modes and formats, bad files, duplicates.

``inspect_data`` returns a JSON-able dict (what ``medclass inspect --json`` writes); ``render_inspect`` prints
it as rich tables. Keys of the report:

``source``, ``root``, ``layout``, ``classes``, ``n_files``, ``n_readable``, ``counts``
(``{split: {class: n}}``, split ``"all"`` when the layout has no splits), ``readable_counts`` (the same over
readable files), ``sizes`` (``{"width"|"height": {"min", "median", "max"}}``), ``modes`` and ``formats``
(``{value: n}``), ``unreadable`` and ``ignored`` (lists of ``{"path", "reason"}``), ``duplicates``
(:meth:`medclass.data.duplicates.DuplicateReport.to_dict`) and ``timing`` (seconds).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from medclass.data.discovery import SPLITS, discover
from medclass.data.duplicates import find_duplicates
from medclass.data.multilabel import LabelOptions, label_matrix, label_names_of, label_statistics
from medclass.data.scan import scan_files

# Rows of each list (unreadable, ignored, duplicate groups) printed; the JSON report has them all.
MAX_ROWS_SHOWN = 15


def inspect_data(
    path: str | os.PathLike,
    near_distance: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
    workers: int | None = None,
    label_names: list[str] | None = None,
) -> dict[str, Any]:
    """Discover, scan and check a data set.

    Args:
        path: data folder (any layout of :func:`medclass.data.discovery.discover`) or CSV manifest.
        near_distance: phash Hamming distance for near-duplicates (default
            :data:`medclass.data.duplicates.DEFAULT_NEAR_DUP_DISTANCE`).
        cache_dir: scan cache folder (default :func:`medclass.utils.paths.cache_dir`).
        progress: show progress bars while scanning.
        workers: decoding processes (default: the CPU count).
        label_names: multi-label: the label names (``data.labels``).

    Returns:
        The report (see the module docstring for its keys).

    Raises:
        DataError: the path is not a usable data set.

    Example:
        >>> report = inspect_data("data/brain_mri")  # doctest: +SKIP
        >>> report["duplicates"]["exact"]["groups"]  # doctest: +SKIP
        22
    """
    start = time.perf_counter()
    index = discover(path, LabelOptions.of(label_names))
    discovered = time.perf_counter()
    infos = scan_files(
        [s.path for s in index.samples], cache_dir=cache_dir, workers=workers, progress=progress
    )
    scanned = time.perf_counter()
    by_path = {info.path: info for info in infos}
    keys = [str(s.path) for s in index.samples]
    labels = {k: s.label for k, s in zip(keys, index.samples, strict=True)}
    splits = {k: s.split for k, s in zip(keys, index.samples, strict=True)}
    duplicates = find_duplicates(infos, labels, splits if index.has_splits else None, near_distance)
    done = time.perf_counter()

    readable = [info for info in infos if info.readable]
    return {
        "source": str(index.source or index.root),
        "root": str(index.root),
        "layout": index.layout,
        "classes": list(index.classes),
        "n_files": len(infos),
        "n_readable": len(readable),
        "counts": _counts(index, keys, lambda k: True),
        "readable_counts": _counts(index, keys, lambda k: by_path[k].readable),
        "sizes": {
            "width": _spread([i.width for i in readable]),
            "height": _spread([i.height for i in readable]),
        },
        "modes": dict(Counter(i.mode for i in readable).most_common()),
        "formats": dict(Counter(i.format for i in readable).most_common()),
        "unreadable": [{"path": i.path, "reason": i.reason} for i in infos if not i.readable],
        "ignored": [{"path": str(p), "reason": reason} for p, reason in index.ignored],
        "duplicates": duplicates.to_dict(),
        **({"multilabel": _label_report(index)} if index.multilabel else {}),
        "timing": {
            "discover_s": round(discovered - start, 3),
            "scan_s": round(scanned - discovered, 3),
            "duplicates_s": round(done - scanned, 3),
        },
    }


def render_inspect(report: dict[str, Any], console: Console) -> None:
    """Print an :func:`inspect_data` report as tables: counts, images, bad files and duplicate groups."""
    console.print(
        f"[bold]{escape(report['source'])}[/]  layout {report['layout']}, {len(report['classes'])} classes, "
        f"{report['n_files']} files ({report['n_readable']} readable)"
    )
    console.print(_counts_table(report))
    console.print(_images_table(report))
    for key, title in (("unreadable", "Unreadable files"), ("ignored", "Ignored files")):
        rows = report[key]
        if rows:
            table = Table("path", "reason", title=f"{title} ({len(rows)})", title_justify="left")
            for row in rows[:MAX_ROWS_SHOWN]:
                table.add_row(_short_path(row["path"], report["root"]), escape(str(row["reason"])))
            console.print(table)
            _more(console, len(rows))
    _render_duplicates(report, console)
    if "multilabel" in report:
        console.print(_labels_table(report["multilabel"]))


def _label_report(index) -> dict[str, Any]:
    """Label frequencies and co-occurrence of a multi-label set (:func:`label_statistics`)."""
    return label_statistics(label_matrix([s.label for s in index.samples], index.classes), index.classes)


def _labels_table(stats: dict[str, Any]) -> Table:
    names = stats["labels"]
    table = Table(
        "label", "positive", "share", "uncertain", *names,
        title=f"Labels: frequency and co-occurrence (images with both; {stats['no_finding']} with no finding)",
        title_justify="left",
    )  # fmt: skip
    for name in names:
        freq = stats["frequency"][name]
        both = [str(stats["co_occurrence"][name][other]) for other in names]
        table.add_row(
            escape(name), str(freq["positive"]), f"{freq['share']:.1%}", str(freq["uncertain"]), *both
        )
    return table


def _counts(index, keys: list[str], keep) -> dict[str, dict[str, int]]:
    groups: dict[str, Counter] = {}
    for key, sample in zip(keys, index.samples, strict=True):
        if keep(key):
            counter = groups.setdefault(sample.split or "all", Counter())
            # Multi-label: an image counts once under each of its (positive) labels.
            counter.update(label_names_of(sample.label) if index.multilabel else [sample.label])
    order = [s for s in (*SPLITS, "all") if s in groups]
    return {split: {c: groups[split].get(c, 0) for c in index.classes} for split in order}


def _spread(values: list[int | None]) -> dict[str, float | None]:
    values = [v for v in values if v is not None]
    if not values:
        return {"min": None, "median": None, "max": None}
    return {"min": int(min(values)), "median": float(np.median(values)), "max": int(max(values))}


def _counts_table(report: dict[str, Any]) -> Table:
    splits = list(report["counts"])
    table = Table(
        "class",
        *splits,
        *(["total"] if len(splits) > 1 else []),
        title="Images per class",
        title_justify="left",
    )
    for c in report["classes"]:
        row = [report["counts"][s][c] for s in splits]
        table.add_row(escape(c), *map(str, row), *([str(sum(row))] if len(splits) > 1 else []))
    totals = [sum(report["counts"][s].values()) for s in splits]
    table.add_row("[bold]total", *map(str, totals), *([str(sum(totals))] if len(splits) > 1 else []))
    return table


def _images_table(report: dict[str, Any]) -> Table:
    table = Table("", "min", "median", "max", title="Readable images", title_justify="left")
    for axis in ("width", "height"):
        spread = report["sizes"][axis]
        table.add_row(axis, *("-" if v is None else f"{v:g}" for v in spread.values()))
    table.add_section()
    table.add_row("modes", ", ".join(f"{k} {v}" for k, v in report["modes"].items()), "", "")
    table.add_row("formats", ", ".join(f"{k} {v}" for k, v in report["formats"].items()), "", "")
    return table


def _render_duplicates(report: dict[str, Any], console: Console) -> None:
    dup = report["duplicates"]
    summary = Table(
        "kind", "groups", "files", "extra copies", "within class", "across classes", "across splits",
        title="Duplicate groups",
        caption=f"exact: same bytes; near: perceptual hash at most {dup['near_distance']} bits apart",
        title_justify="left",
        caption_justify="left",
    )  # fmt: skip
    for kind in ("exact", "near"):
        d = dup[kind]
        relations = [str(d["by_relation"][r]) for r in ("within-class", "across-classes", "across-splits")]
        summary.add_row(kind, str(d["groups"]), str(d["files"]), str(d["extra_copies"]), *relations)
    console.print(summary)
    for kind in ("exact", "near"):
        groups = sorted(dup[kind]["list"], key=lambda g: (g["relation"] == "within-class", -len(g["paths"])))
        if not groups:
            continue
        table = Table(
            "#", "relation", "files", title=f"{kind.capitalize()} duplicate groups", title_justify="left"
        )
        for n, group in enumerate(groups[:MAX_ROWS_SHOWN], start=1):
            names = ", ".join(
                _short_path(p, report["root"]) + (f" ({s})" if s else "")
                for p, s in zip(group["paths"], group["splits"], strict=True)
            )
            relation = group["relation"]
            style = "red" if relation != "within-class" else ""
            table.add_row(str(n), f"[{style}]{relation}[/]" if style else relation, names)
        console.print(table)
        _more(console, len(groups))


def _more(console: Console, n: int) -> None:
    if n > MAX_ROWS_SHOWN:
        console.print(f"  ... {n - MAX_ROWS_SHOWN} more (all of them in --json)", style="dim")


def _short_path(path: str, root: str) -> str:
    try:
        return escape(Path(path).relative_to(root).as_posix())
    except ValueError:
        return escape(path)
