"""Divide a data set into train/val/test (or k folds), keeping groups and duplicates together.

Strategies (``SplitConfig.strategy``):

- ``stratified``: ``test_frac`` and ``val_frac`` of every class, at random (``seed``).
- ``sorted-id``: per class, the first ``test_frac`` of the files in natural order of the *file name*
  (``img2`` before ``img10``) are the test set, as in published protocols; val is drawn at random from the
  rest.
- ``kfold``: a stratified test part (if ``test_frac > 0``) is held out first (``fold`` empty), the rest are
  ``train`` with a ``fold`` in ``0..folds-1``; training uses fold ``split.fold`` as validation. ``val_frac``
  is not used.
- ``group``: like ``stratified``, but it requires a group (patient) id, from the CSV ``group`` column or
  ``group_regex`` on the file name; no group crosses two splits.
- ``predefined``: the layout's own splits (pre-split folders, CSV ``split`` column, a MedMNIST ``.npz``, or
  ``--test-data``). Without a val split, ``val_frac`` (default 0.10) of each class of train becomes val, so
  that more images train than under a three-way random split. Duplicates that cross the given splits are reported, not
  moved.
- ``auto``: ``predefined`` when the layout has splits, else ``stratified``.

Groups: a known group id is always respected (never split by image when a group is known). Unless
``allow_duplicate_leakage``, the exact and near-duplicate components of ``data.duplicates`` are merged with
the groups (union-find), because a copy in train and another in test lets the model be graded on a picture it
has memorised, which inflates test accuracy. For ``sorted-id`` this means that copies of a test image join
the test set (reported in the notes); the rest of the protocol is unchanged.

Unreadable files are left out of the table. Notes about what was done (files left out, duplicate groups kept
together, test files added by sorted-id, leaks across given splits) are in ``table.attrs["notes"]``: callers
show them to the user.
"""

from __future__ import annotations

import os
import re
from collections.abc import Hashable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from medclass.config.schema import DEFAULT_VAL_FRAC, DEFAULT_VAL_FRAC_OF_TRAIN, Config, SplitConfig
from medclass.data.checks import leak_note
from medclass.data.discovery import SPLIT_NAMES, DataIndex
from medclass.data.duplicates import find_duplicates
from medclass.data.multilabel import label_matrix
from medclass.data.multilabel_splits import multilabel_assignment
from medclass.data.name_ranges import compact_ranges
from medclass.data.scan import FileInfo
from medclass.utils.errors import ConfigError, DataError
from medclass.utils.io import natural_key

SPLIT_COLUMNS = ("path", "label", "split")  # + optional "fold", "group"
OPTIONAL_COLUMNS = ("fold", "group")
SPLITS = ("train", "val", "test")
_MAX_PROBLEMS_SHOWN = 10


def split_seed(config: Config) -> int:
    """The split seed of a run: ``split.seed`` when set, else the run's ``seed``."""
    return config.split.seed if config.split.seed is not None else config.seed


def val_fraction(cfg: SplitConfig, strategy: str) -> float:
    """``split.val_frac``, or its default for ``strategy``: 0.10 of train for ``predefined``, else 0.15."""
    if cfg.val_frac is not None:
        return cfg.val_frac
    return DEFAULT_VAL_FRAC_OF_TRAIN if strategy == "predefined" else DEFAULT_VAL_FRAC


def stratified_assignment(
    labels: Sequence[Hashable],
    groups: Sequence[Hashable] | None,
    fractions: Sequence[float],
    rng: np.random.Generator,
) -> np.ndarray:
    """Assign items to bins so that each class is divided by ``fractions`` and no group is cut.

    Per class, bin ``b`` gets the quota ``round(n_c * F_b) - round(n_c * F_{b-1})`` where ``F`` are the
    cumulative fractions, so the quotas add up to the class size. Groups are shuffled (``rng``), then taken
    largest first; each goes to the bin where it reduces the squared distance to the quotas most, summed over
    the classes of its members (ties: the earlier bin). Without groups every bin ends with exactly its quota,
    i.e. within half an image of ``n_c * fraction`` per class; with groups, whole groups can overshoot.

    Args:
        labels: class of each item.
        groups: group id of each item (items of one id stay together; ``None`` or ``""``: alone);
            ``None``: every item alone.
        fractions: share of each bin, positive, summing to 1 (normalised if not).
        rng: source of the shuffling.

    Returns:
        ``int`` array, the bin of each item.

    Multi-label data (``labels`` an ``(N, K)`` array of per-label values) is assigned by
    :func:`medclass.data.multilabel_splits.multilabel_assignment` (iterative stratification, groups kept whole).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> np.bincount(stratified_assignment(["a"] * 10 + ["b"] * 4, None, [0.2, 0.8], rng)).tolist()
        [3, 11]
    """
    if isinstance(labels, np.ndarray) and labels.ndim == 2:
        return multilabel_assignment(labels, groups, fractions, rng)
    n = len(labels)
    fractions = np.asarray(fractions, dtype=np.float64)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if fractions.ndim != 1 or fractions.size == 0 or (fractions <= 0).any():
        raise ValueError(f"fractions {fractions.tolist()}: need one or more positive values")
    class_of, _ = pd.factorize(pd.Series(list(labels), dtype=object), sort=True)
    group_of = _group_codes(None if groups is None else list(groups), n)
    n_classes = class_of.max() + 1

    class_sizes = np.bincount(class_of, minlength=n_classes)
    bounds = np.floor(np.outer(class_sizes, np.cumsum(fractions) / fractions.sum()) + 0.5).astype(np.int64)
    bounds[:, -1] = class_sizes
    deficit = np.diff(bounds, axis=1, prepend=0)  # remaining quota per class and bin

    members: dict[int, list[int]] = {}
    for item, group in enumerate(group_of):
        members.setdefault(int(group), []).append(item)
    order = [members[g] for g in rng.permutation(sorted(members))]
    order.sort(key=len, reverse=True)  # stable: equal sizes keep the shuffled order

    assignment = np.empty(n, dtype=np.int64)
    for items in order:
        counts = np.bincount(class_of[items], minlength=n_classes)
        present = np.nonzero(counts)[0]
        c = counts[present, None]
        # Change of sum((quota - fill)^2) when the group joins each bin, up to a constant: maximise this.
        gain = (c * (2 * deficit[present] - c)).sum(axis=0)
        best = int(np.argmax(gain))
        deficit[present, best] -= counts[present]
        assignment[items] = best
    return assignment


def make_splits(index: DataIndex, infos: Sequence[FileInfo], cfg: SplitConfig, seed: int) -> pd.DataFrame:
    """Split the readable images of ``index`` following ``cfg`` (see the module docstring).

    Args:
        index: the discovered data set.
        infos: :func:`medclass.data.scan.scan_files` results for the sample paths (readability, duplicates).
        cfg: the ``split`` section of the config.
        seed: the split seed (:func:`split_seed`).

    Returns:
        DataFrame with columns ``path`` (absolute), ``label``, ``split`` and, when used, ``fold`` (``Int64``,
        empty outside the folds) and ``group``; notes in ``.attrs["notes"]``.

    Raises:
        DataError: no readable image, a ``group`` split without groups, a file ``group_regex`` does not match.
        ConfigError: ``group_regex`` is not a valid regular expression.

    Example:
        >>> cfg = SplitConfig(strategy="stratified")
        >>> table = make_splits(discover("data"), infos, cfg, 42)  # doctest: +SKIP
        >>> split_summary(table)  # doctest: +SKIP
    """
    readable = {info.path for info in infos if info.readable}
    samples = [s for s in index.samples if str(s.path) in readable]
    if not samples:
        raise DataError(f"{index.source or index.root}: no readable image to split")
    strategy = cfg.strategy
    if strategy == "auto":
        strategy = "predefined" if index.has_splits else "stratified"
    if strategy == "predefined" and not index.has_splits:
        raise DataError(
            f"{index.source or index.root}: --strategy predefined needs split folders (train/val/test) or a "
            "CSV split column; this data set has neither"
        )

    keys = [str(s.path) for s in samples]
    labels = np.array([s.label for s in samples], dtype=object)
    # What the split is stratified on: the class, or each label of a multi-label set.
    strata = label_matrix(labels, index.classes) if index.multilabel else labels
    if index.multilabel and strategy == "sorted-id":
        raise ConfigError(
            "split.strategy = 'sorted-id' orders files per class; a multi-label data set has no single class: "
            "use stratified, group, kfold or predefined"
        )
    given = np.array([s.split for s in samples], dtype=object)
    patient = _patient_groups(samples, cfg.group_regex)
    if strategy == "group" and patient is None:
        raise DataError(
            "--strategy group needs group ids: a 'group' column in the CSV manifest or --group-regex "
            "(e.g. '^(\\w+?)_' for files named PATIENT_slice.png)"
        )

    notes: list[str] = []
    if len(samples) < len(index.samples):
        notes.append(
            f"{len(index.samples) - len(samples)} unreadable file(s) left out (see medclass inspect)"
        )
    link = _group_codes(patient, len(samples))
    if not cfg.allow_duplicate_leakage or strategy == "predefined":
        wanted = set(keys)
        report = find_duplicates(
            [i for i in infos if i.path in wanted],
            dict(zip(keys, labels, strict=True)),
            dict(zip(keys, given, strict=True)) if strategy == "predefined" else None,
            cfg.near_dup_distance,
        )
        if not cfg.allow_duplicate_leakage:
            link = _merge_duplicates(link, keys, report.group_ids(), notes)
        if strategy == "predefined":
            leaks = leak_note(report)
            if leaks:
                notes.append(leaks)

    rng = np.random.default_rng(seed)
    fold = None
    val_frac = val_fraction(cfg, strategy)
    if strategy in ("stratified", "group"):
        split = _fractions_split(strata, link, cfg.test_frac, val_frac, rng)
    elif strategy == "kfold":
        split, fold = _kfold_split(strata, link, cfg.test_frac, cfg.folds, rng)
    elif strategy == "sorted-id":
        split = _sorted_id_split(samples, labels, link, cfg.test_frac, val_frac, rng, notes)
    elif strategy == "predefined":
        split = _predefined_split(given, strata, link, val_frac, rng, notes)
    else:  # pragma: no cover - the config schema admits only the names above
        raise ConfigError(f"split.strategy = {strategy!r}: unknown")

    table = pd.DataFrame(
        {"path": [_absolute(k) for k in keys], "label": labels.astype(str), "split": split.astype(str)}
    )
    if fold is not None:
        table["fold"] = pd.array(fold, dtype="Int64")
    if patient is not None:
        table["group"] = [g if g is not None else "" for g in patient]
    table.attrs["notes"] = notes
    table.attrs["strategy"] = strategy
    return table


def write_splits(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a splits table as CSV (``path,label,split[,fold][,group]``); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = [*SPLIT_COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in table.columns)]
    table[columns].to_csv(path, index=False)
    return path


def read_splits(path: str | os.PathLike, classes: Sequence[str] | None = None) -> pd.DataFrame:
    """Read and check a splits CSV written by :func:`write_splits` (or by hand).

    Relative paths resolve against the CSV's folder. Split names are ``train``, ``val``, ``test`` (the
    aliases of :data:`medclass.data.discovery.SPLIT_NAMES` are accepted and normalised).

    Args:
        path: the CSV file.
        classes: allowed labels (``None``: any).

    Returns:
        DataFrame with ``path`` (absolute), ``label``, ``split`` and, when present, ``fold`` (``Int64``) and
        ``group``.

    Raises:
        DataError: missing file or column, bad split or fold value, unknown label, a path listed twice; the
            message names the file, the line and the value.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: splits file not found")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable splits CSV ({exc})") from None
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    repeated = sorted({c for c in raw.columns if list(raw.columns).count(c) > 1})
    if repeated:
        raise DataError(
            f"{path}: line 1 (header): column(s) {', '.join(repr(c) for c in repeated)} appear more than once"
        )
    missing = [c for c in SPLIT_COLUMNS if c not in raw.columns]
    if missing:
        raise DataError(
            f"{path}: line 1 (header): missing column(s) {', '.join(repr(c) for c in missing)}; "
            f"found {', '.join(repr(c) for c in raw.columns)} (expected path,label,split[,fold][,group])"
        )

    base = path.absolute().parent
    allowed = None if classes is None else set(classes)
    problems: list[str] = []
    first_line: dict[str, int] = {}
    paths, splits, folds = [], [], []
    for row, (raw_path, label, raw_split) in enumerate(
        zip(raw["path"], raw["label"], raw["split"], strict=True)
    ):
        line = row + 2
        raw_path, label, raw_split = raw_path.strip(), label.strip(), raw_split.strip()
        split = SPLIT_NAMES.get(raw_split.lower())
        if not raw_path:
            problems.append(f"line {line}, column 'path': empty")
        if split is None:
            problems.append(
                f"line {line}, column 'split': unknown value {raw_split!r} (allowed: {', '.join(SPLITS)})"
            )
        if allowed is not None and label not in allowed:
            problems.append(
                f"line {line}, column 'label': unknown label {label!r} "
                f"(classes: {', '.join(sorted(allowed))})"
            )
        fold = None
        if "fold" in raw.columns and raw["fold"].iat[row].strip():
            text = raw["fold"].iat[row].strip()
            try:
                fold = int(float(text)) if float(text).is_integer() else None
            except ValueError:
                fold = None
            if fold is None or fold < 0:
                problems.append(f"line {line}, column 'fold': {text!r} is not a fold number (0, 1, ...)")
        absolute = _absolute(Path(raw_path) if Path(raw_path).is_absolute() else base / raw_path)
        if raw_path and absolute in first_line:
            problems.append(
                f"line {line}, column 'path': {raw_path} already listed on line {first_line[absolute]}"
            )
        first_line.setdefault(absolute, line)
        paths.append(absolute)
        splits.append(split)
        folds.append(fold)
    if problems:
        shown = "\n  ".join(problems[:_MAX_PROBLEMS_SHOWN])
        more = (
            f"\n  ... and {len(problems) - _MAX_PROBLEMS_SHOWN} more"
            if len(problems) > _MAX_PROBLEMS_SHOWN
            else ""
        )
        raise DataError(f"{path}: {len(problems)} bad row(s) in the splits file:\n  {shown}{more}")
    if not paths:
        raise DataError(f"{path}: the splits file lists no image")

    table = pd.DataFrame({"path": paths, "label": raw["label"].str.strip(), "split": splits})
    if "fold" in raw.columns:
        table["fold"] = pd.array(folds, dtype="Int64")
    if "group" in raw.columns:
        table["group"] = raw["group"].str.strip()
    return table


def split_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Images per class (rows) and split (columns train, val, test, or ``fold k`` in k-fold) + totals."""
    column = table["split"].astype(str)
    if "fold" in table.columns:
        has_fold = table["fold"].notna()
        column = column.where(~has_fold, "fold " + table["fold"].astype("string"))
    counts = pd.crosstab(table["label"], column)
    order = [s for s in SPLITS if s in counts.columns]
    order += sorted((c for c in counts.columns if c not in order), key=natural_key)
    counts = counts[order]
    counts["total"] = counts.sum(axis=1)
    counts.loc["total"] = counts.sum(axis=0)
    counts.index.name, counts.columns.name = "class", None
    return counts


def _absolute(path: str | os.PathLike) -> str:
    text = os.fspath(path)
    return text if os.path.isabs(text) else os.path.abspath(text)


def _group_codes(groups: Sequence[str | None] | None, n: int) -> np.ndarray:
    """Integer code per item; items without a group get codes of their own."""
    if groups is None:
        return np.arange(n)
    codes = pd.factorize(pd.Series(list(groups), dtype=object).replace("", None))[0]
    alone = np.nonzero(codes < 0)[0]
    codes[alone] = codes.max(initial=-1) + 1 + np.arange(alone.size)
    return codes


def _patient_groups(samples: Sequence, regex: str | None) -> list[str | None] | None:
    """Group id per sample: from ``group_regex`` on the file name if given, else the CSV group, else None."""
    if regex:
        try:
            pattern = re.compile(regex)
        except re.error as exc:
            raise ConfigError(
                f"split.group_regex = {regex!r}: not a valid regular expression ({exc})"
            ) from None
        groups = []
        for sample in samples:
            name = Path(sample.path).name
            match = pattern.search(name)
            if match is None:
                raise DataError(
                    f"{sample.path}: --group-regex {regex!r} does not match the file name {name!r}"
                )
            value = match.group(1) if pattern.groups and match.group(1) is not None else match.group(0)
            groups.append(value)
        return groups
    groups = [s.group for s in samples]
    return groups if any(g for g in groups) else None


def _merge_duplicates(
    link: np.ndarray, keys: Sequence[str], dup_ids: dict[str, str], notes: list[str]
) -> np.ndarray:
    """Union-find over items: items sharing a group (``link``) or a duplicate component become one group."""
    parent = list(range(len(keys)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    first_of: dict[Hashable, int] = {}
    for item, key in enumerate(keys):
        for tag in (("group", int(link[item])), ("dup", dup_ids.get(key))):
            if tag[1] is None:
                continue
            if tag in first_of:
                union(first_of[tag], item)
            else:
                first_of[tag] = item
    dup_files = sum(1 for key in keys if key in dup_ids)
    if dup_files:
        components = len({dup_ids[k] for k in keys if k in dup_ids})
        notes.append(f"{components} duplicate group(s) ({dup_files} files) kept within one split each")
    return np.array([find(i) for i in range(len(keys))])


def _fractions_split(
    labels: np.ndarray, groups: np.ndarray, test_frac: float, val_frac: float, rng: np.random.Generator
) -> np.ndarray:
    """test/val/train by per-class fractions (bins with a zero fraction are left out)."""
    bins = [(name, frac) for name, frac in (("test", test_frac), ("val", val_frac)) if frac > 0]
    bins.append(("train", 1.0 - test_frac - val_frac))
    chosen = stratified_assignment(labels, groups, [f for _, f in bins], rng)
    return np.array([name for name, _ in bins], dtype=object)[chosen]


def _kfold_split(
    labels: np.ndarray, groups: np.ndarray, test_frac: float, folds: int, rng: np.random.Generator
) -> tuple[np.ndarray, list[int | None]]:
    fractions = ([test_frac] if test_frac > 0 else []) + [(1.0 - test_frac) / folds] * folds
    chosen = stratified_assignment(labels, groups, fractions, rng)
    if test_frac > 0:
        chosen = chosen - 1  # -1: test
    split = np.where(chosen < 0, "test", "train").astype(object)
    return split, [int(c) if c >= 0 else None for c in chosen]


def _sorted_id_split(
    samples: Sequence,
    labels: np.ndarray,
    groups: np.ndarray,
    test_frac: float,
    val_frac: float,
    rng: np.random.Generator,
    notes: list[str],
) -> np.ndarray:
    split = np.full(len(samples), "train", dtype=object)
    for label in np.unique(labels):
        members = np.nonzero(labels == label)[0]
        order = sorted(members, key=lambda i: _sorted_id_key(samples[i].path))
        n_test = int(np.floor(len(members) * test_frac + 0.5))
        split[order[:n_test]] = "test"
    # A group (or duplicate component) with a member in test goes to test whole.
    in_test = set(groups[split == "test"].tolist())
    joined = np.isin(groups, list(in_test)) & (split != "test")
    if joined.any():
        split[joined] = "test"
        notes.append(
            f"sorted-id: {int(joined.sum())} file(s) joined the test set because a duplicate or group mate "
            "is among the first files (pass --allow-duplicate-leakage for the protocol verbatim)"
        )
    rest = np.nonzero(split != "test")[0]
    if val_frac > 0 and rest.size:
        share = min(val_frac / (1.0 - test_frac), 1.0)
        split[rest] = _two_way(labels[rest], groups[rest], "val", share, rng)
    notes.extend(_sorted_id_ranges(samples, labels, split))
    return split


def _sorted_id_ranges(samples: Sequence, labels: np.ndarray, split: np.ndarray) -> list[str]:
    """One note per class: the file names of each split as ranges of the class's natural name order."""
    notes = []
    for label in np.unique(labels):
        order = sorted(np.nonzero(labels == label)[0], key=lambda i: _sorted_id_key(samples[i].path))
        names = [Path(samples[i].path).name for i in order]
        parts = [
            f"{part} {compact_ranges(names, [split[i] == part for i in order])}"
            for part in ("test", "val", "train")
            if any(split[i] == part for i in order)
        ]
        notes.append(f"sorted-id {label}: " + "; ".join(parts))
    return notes


def _sorted_id_key(path: str) -> tuple:
    """The sorted-id order: natural order of the file name, then of the whole path."""
    return natural_key(Path(path).name), natural_key(str(path))


def _predefined_split(
    given: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    val_frac: float,
    rng: np.random.Generator,
    notes: list[str],
) -> np.ndarray:
    if any(s is None for s in given):
        raise DataError(
            f"{sum(s is None for s in given)} image(s) have no split in the data set's own splits; "
            "give every row a split or choose another --strategy"
        )
    split = np.array([SPLIT_NAMES.get(str(s).lower(), s) for s in given], dtype=object)
    present = set(split.tolist())
    if "val" not in present and "train" in present and val_frac > 0:
        train = np.nonzero(split == "train")[0]
        split[train] = _two_way(labels[train], groups[train], "val", val_frac, rng)
        notes.append(
            f"predefined: no val split given; {int((split == 'val').sum())} train image(s) became val"
        )
    if "test" not in present:
        notes.append("predefined: the data set has no test split")
    return split


def _two_way(
    labels: np.ndarray, groups: np.ndarray, name: str, share: float, rng: np.random.Generator
) -> np.ndarray:
    """``name`` for a stratified, group-aware ``share`` of the items, ``train`` for the rest."""
    if share <= 0:
        return np.full(len(labels), "train", dtype=object)
    if share >= 1:
        return np.full(len(labels), name, dtype=object)
    chosen = stratified_assignment(labels, groups, [share, 1.0 - share], rng)
    return np.where(chosen == 0, name, "train").astype(object)
