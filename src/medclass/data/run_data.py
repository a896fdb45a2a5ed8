"""The data of a training run, prepared once: discover, scan, split, check, cache, and the run's splits.csv and
data_report.json. Shared by train, tune and compare (through train) and by split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console

from medclass.config.schema import Config, SplitConfig
from medclass.data.cache import ImageCache, build_cache
from medclass.data.checks import check_class_splits, leak_note
from medclass.data.discovery import DataIndex
from medclass.data.duplicates import find_duplicates
from medclass.data.multilabel import check_label_splits, label_matrix, label_statistics
from medclass.data.preprocess import PreprocessSettings
from medclass.data.scan import FileInfo, scan_files
from medclass.data.splits import make_splits, read_splits, split_seed, write_splits
from medclass.data.test_data import discover_run_data
from medclass.runs import DATA_REPORT_FILE, SPLITS_FILE, training_view
from medclass.utils.console import default_console
from medclass.utils.errors import DataError
from medclass.utils.io import write_json


def split_index(
    config: Config, index: DataIndex, progress: bool = False, console: Console | None = None
) -> tuple[pd.DataFrame, list[FileInfo]]:
    """Scan the files of ``index`` (hashes, readability, perceptual hashes) and split them as ``config.split``
    says; returns the splits table and the scan results."""
    paths = [s.path for s in index.samples]
    infos = scan_files(paths, cache_dir=config.data.cache_dir, progress=progress, console=console)
    return make_splits(index, infos, config.split, split_seed(config)), infos


@dataclass
class PreparedData:
    """Everything training needs about the images of a run.

    Attributes:
        classes: class names (sorted).
        table: the splits table as written to splits.csv (``path,label,split[,fold][,group]``).
        cache: preprocessed images of every path in ``table``.
        report: the content of data_report.json.
        multilabel: each image has a set of labels; ``classes`` are the label names and the ``label`` column
            holds the texts of :mod:`medclass.data.multilabel`.
    """

    classes: list[str]
    table: pd.DataFrame
    cache: ImageCache
    report: dict[str, Any]
    multilabel: bool = False

    def training_table(self, split: SplitConfig) -> pd.DataFrame:
        """The table with ``kfold`` folds turned into train/val for ``split.fold``; unreadable rows removed."""
        return training_view(self.table, split.fold)[lambda t: t["path"].map(self._readable)]

    def _readable(self, path: str) -> bool:
        return bool(self.cache.readable[self.cache.index_of(path)])

    def write(self, run_dir: Path, splits: bool = True) -> None:
        """Write data_report.json and (``splits``) splits.csv into ``run_dir``."""
        if splits:
            write_splits(self.table, run_dir / SPLITS_FILE)
        write_json(run_dir / DATA_REPORT_FILE, self.report)


def prepare_data(
    config: Config,
    run_dir: Path | None = None,
    reuse_splits: bool = False,
    console: Console | None = None,
    write: bool = True,
) -> PreparedData:
    """Discover the data, split it (or read the splits), fill the cache and write splits.csv/data_report.json.

    Args:
        config: the run config (``data``, ``split`` and ``seed`` are used).
        run_dir: where splits.csv and data_report.json go (None: nowhere).
        reuse_splits: read ``run_dir/splits.csv`` instead of splitting again (resume).
        console: where progress messages go.
        write: write the two files now; False leaves that to :meth:`PreparedData.write` (a run writes them
            once its folder is claimed, after the data passed every check).
    """
    console = console or default_console()
    if not config.data.path and not config.split.splits_file:
        raise DataError("no data given: pass --data DIR|FILE.csv (or --splits FILE.csv)")
    index = discover_run_data(config)
    classes = index.classes if index is not None else None
    multilabel = index is not None and index.multilabel
    allowed = None if multilabel else classes  # multi-label texts are checked by label_matrix below

    if reuse_splits and run_dir is not None and (run_dir / SPLITS_FILE).exists():
        table = read_splits(run_dir / SPLITS_FILE, allowed)
    elif config.split.splits_file:
        table = read_splits(config.split.splits_file, allowed)
    else:
        table = None
    if classes is None:
        classes = sorted(table["label"].unique())

    console.print(f"scanning {len(index.samples) if index else len(table)} files (hashes, duplicates) ...")
    from_file = table is not None
    if table is None:
        table, infos = split_index(config, index, progress=True, console=console)
        for note in table.attrs.get("notes", []):
            console.print(f"[yellow]note:[/] {note}", highlight=False)
    else:
        infos = scan_files(list(table["path"]), config.data.cache_dir, progress=True, console=console)
    readable = {info.path for info in infos if info.readable}
    usable = training_view(table, config.split.fold)[lambda t: t["path"].isin(readable)]
    if multilabel:
        matrix = label_matrix(list(usable["label"]), classes, source=data_source(config))
        check_label_splits(matrix, list(usable["split"]), classes, source=data_source(config))
    else:
        check_class_splits(usable, classes, config.data.min_images_per_class, source=data_source(config))

    settings = PreprocessSettings.from_config(config.data)
    console.print(f"preprocessing {len(table)} images to {settings.image_size} px (cached) ...")
    md5 = {info.path: info.md5 for info in infos}
    paths = list(table["path"])
    known = [md5[p] for p in paths] if all(p in md5 for p in paths) else None  # the scan read every file once
    cache = build_cache(
        paths, settings, cache_dir=config.data.cache_dir, digests=known, progress=True, console=console
    )
    report = data_report(config, index, infos, table, cache)
    if multilabel:
        report["multilabel"] = multilabel_report(table, classes)
    if from_file and report["duplicate_leaks"]:
        console.print(f"[yellow]note:[/] {report['duplicate_leaks']}", highlight=False)
    data = PreparedData(classes=list(classes), table=table, cache=cache, report=report, multilabel=multilabel)
    if write and run_dir is not None:
        data.write(run_dir, splits=not reuse_splits)
    return data


def data_source(config: Config) -> str:
    """What the images of a run were given as: the data folder or manifest, else the splits file."""
    return str(config.data.path or config.split.splits_file)


def data_report(
    config: Config, index: DataIndex | None, infos: list[FileInfo], table: pd.DataFrame, cache: ImageCache
) -> dict[str, Any]:
    """Counts per split and class, skipped and ignored files, duplicate groups and the policy applied."""
    labels = dict(zip(table["path"], table["label"], strict=True))
    splits = dict(zip(table["path"], table["split"], strict=True))
    duplicates = find_duplicates(
        [i for i in infos if i.path in labels], labels, splits, config.split.near_dup_distance
    )
    skipped = [{"path": i.path, "reason": i.reason} for i in infos if not i.readable]
    skipped += [
        {"path": p, "reason": r} for p, r in cache.reasons.items() if p not in {s["path"] for s in skipped}
    ]
    leaks = leak_note(duplicates)
    if leaks:
        policy = "kept as given (duplicates cross the splits)"
    elif config.split.allow_duplicate_leakage:
        policy = "allowed across splits"
    else:
        policy = "kept in one split"
    return {
        "data": data_source(config),
        "layout": index.layout if index is not None else "splits-file",
        "classes": sorted(table["label"].unique()),
        "n_images": len(table),
        "counts": split_counts(table, index.classes if index is not None and index.multilabel else None),
        "skipped": skipped,
        "ignored": [{"path": str(p), "reason": r} for p, r in (index.ignored if index else [])],
        "duplicates": duplicates.to_dict(),
        "duplicate_policy": policy,
        "duplicate_leaks": leaks,
        "preprocess": PreprocessSettings.from_config(config.data).to_dict(),
    }


def multilabel_report(table: pd.DataFrame, labels: list[str]) -> dict[str, Any]:
    """Per split: each label's frequency and the label co-occurrence (:func:`label_statistics`)."""
    return {
        split: label_statistics(label_matrix(list(part["label"]), labels), labels)
        for split, part in table.groupby("split", sort=False)
    }


def split_counts(table: pd.DataFrame, labels: list[str] | None = None) -> dict[str, dict[str, int]]:
    """``{split: {class: images}}`` of a splits table; with multi-label ``labels``, ``{split: {label: positive
    images}}``."""
    if labels is not None:
        return {
            split: dict(
                zip(
                    labels,
                    np.nansum(label_matrix(list(part["label"]), labels), axis=0).astype(int).tolist(),
                    strict=True,
                )
            )
            for split, part in table.groupby("split", sort=False)
        }
    sizes = table.groupby(["split", "label"]).size()
    return {split: {label: int(n) for label, n in sizes[split].items()} for split in sizes.index.levels[0]}
