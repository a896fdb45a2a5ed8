"""The data of a training run, prepared once: discover, scan, split, check, cache, and the run's splits.csv and
data_report.json. Shared by train, tune and compare (through train) and by split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from medclass.config.schema import Config, SplitConfig
from medclass.data.cache import ImageCache, build_cache
from medclass.data.checks import check_class_splits, leak_note
from medclass.data.discovery import DataIndex, discover
from medclass.data.duplicates import find_duplicates
from medclass.data.preprocess import PreprocessSettings
from medclass.data.scan import FileInfo, scan_files
from medclass.data.splits import make_splits, read_splits, split_seed, write_splits
from medclass.runs import DATA_REPORT_FILE, SPLITS_FILE, training_view
from medclass.utils.console import default_console
from medclass.utils.errors import DataError
from medclass.utils.io import write_json


def split_index(
    config: Config, index: DataIndex, progress: bool = False
) -> tuple[pd.DataFrame, list[FileInfo]]:
    """Scan the files of ``index`` (hashes, readability, perceptual hashes) and split them as ``config.split``
    says; returns the splits table and the scan results."""
    infos = scan_files([s.path for s in index.samples], cache_dir=config.data.cache_dir, progress=progress)
    return make_splits(index, infos, config.split, split_seed(config)), infos


@dataclass
class PreparedData:
    """Everything training needs about the images of a run.

    Attributes:
        classes: class names (sorted).
        table: the splits table as written to splits.csv (``path,label,split[,fold][,group]``).
        cache: preprocessed images of every path in ``table``.
        report: the content of data_report.json.
    """

    classes: list[str]
    table: pd.DataFrame
    cache: ImageCache
    report: dict[str, Any]

    def training_table(self, split: SplitConfig) -> pd.DataFrame:
        """The table with ``kfold`` folds turned into train/val for ``split.fold``; unreadable rows removed."""
        return training_view(self.table, split.fold)[lambda t: t["path"].map(self._readable)]

    def _readable(self, path: str) -> bool:
        return bool(self.cache.readable[self.cache.index_of(path)])


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
        write: write splits.csv and data_report.json into ``run_dir`` (False: read only, as the other
            processes of a DDP run do).
    """
    console = console or default_console()
    if not config.data.path and not config.split.splits_file:
        raise DataError("no data given: pass --data DIR|FILE.csv (or --splits FILE.csv)")
    index = discover(config.data.path) if config.data.path else None
    classes = index.classes if index is not None else None

    if reuse_splits and run_dir is not None and (run_dir / SPLITS_FILE).exists():
        table = read_splits(run_dir / SPLITS_FILE, classes)
    elif config.split.splits_file:
        table = read_splits(config.split.splits_file, classes)
    else:
        table = None
    if classes is None:
        classes = sorted(table["label"].unique())

    console.print(f"scanning {len(index.samples) if index else len(table)} files (hashes, duplicates) ...")
    from_file = table is not None
    if table is None:
        table, infos = split_index(config, index)
        for note in table.attrs.get("notes", []):
            console.print(f"[yellow]note:[/] {note}", highlight=False)
    else:
        infos = scan_files(list(table["path"]), cache_dir=config.data.cache_dir)
    readable = {info.path for info in infos if info.readable}
    check_class_splits(
        training_view(table, config.split.fold)[lambda t: t["path"].isin(readable)],
        classes,
        config.data.min_images_per_class,
        source=data_source(config),
    )
    if write and run_dir is not None and not reuse_splits:
        write_splits(table, run_dir / SPLITS_FILE)

    settings = PreprocessSettings.from_config(config.data)
    console.print(f"preprocessing {len(table)} images to {settings.image_size} px (cached) ...")
    md5 = {info.path: info.md5 for info in infos}
    paths = list(table["path"])
    known = [md5[p] for p in paths] if all(p in md5 for p in paths) else None  # the scan read every file once
    cache = build_cache(paths, settings, cache_dir=config.data.cache_dir, digests=known)
    report = data_report(config, index, infos, table, cache)
    if from_file and report["duplicate_leaks"]:
        console.print(f"[yellow]note:[/] {report['duplicate_leaks']}", highlight=False)
    if write and run_dir is not None:
        write_json(run_dir / DATA_REPORT_FILE, report)
    return PreparedData(classes=list(classes), table=table, cache=cache, report=report)


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
        "counts": split_counts(table),
        "skipped": skipped,
        "ignored": [{"path": str(p), "reason": r} for p, r in (index.ignored if index else [])],
        "duplicates": duplicates.to_dict(),
        "duplicate_policy": policy,
        "duplicate_leaks": leaks,
        "preprocess": PreprocessSettings.from_config(config.data).to_dict(),
    }


def split_counts(table: pd.DataFrame) -> dict[str, dict[str, int]]:
    """``{split: {class: images}}`` of a splits table."""
    sizes = table.groupby(["split", "label"]).size()
    return {split: {label: int(n) for label, n in sizes[split].items()} for split in sizes.index.levels[0]}
