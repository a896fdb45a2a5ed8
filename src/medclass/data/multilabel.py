"""Multi-label data: one image, several findings (chest X-ray style), in a CSV manifest or a MedMNIST ``.npz``.

Two manifest layouts are understood, beside the usual ``path`` and optional ``split``, ``group`` columns:

- a ``labels`` column with the image's findings joined by ``|`` (``effusion|cardiomegaly``; empty: no finding);
  the allowed names are ``data.labels`` when it is set, else every name that occurs;
- one ``0``/``1`` column per label, named by ``data.labels`` (``--label-columns a,b,c``).

Uncertain labels (CheXpert writes ``-1``, in a column or as ``-1`` in an ``.npz``) follow
``data.uncertain_labels``: ``ignore`` (left out of the loss and the metrics of that label), ``zeros`` or
``ones`` (the U-Zeros / U-Ones policies of Irvin et al., *CheXpert*, AAAI 2019).

Inside medclass one image's labels travel as text in the ``label`` column of the splits table, so that
splits.csv, the duplicate report and every table keep their columns: the positive names joined by ``|`` in the
order of the label list, an uncertain one marked with a trailing ``?`` (``cardiomegaly|effusion?``), the empty
text for no finding. :func:`label_matrix` turns such texts back into the ``(N, K)`` targets (1, 0, NaN for
uncertain).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from medclass.data.npz import NpzData, member_path
from medclass.utils.errors import DataError

UncertainPolicy = Literal["ignore", "zeros", "ones"]
UNCERTAIN_POLICIES = ("ignore", "zeros", "ones")
SEPARATOR = "|"
UNCERTAIN_MARK = "?"
LABELS_COLUMN = "labels"
# Column names of the manifest and of the prediction tables, which a label may not take.
RESERVED_NAMES = ("path", "label", "split", "group", LABELS_COLUMN, "prediction", "error")


@dataclass(frozen=True)
class LabelOptions:
    """How multi-label data is read: the label names (``data.labels``) and the uncertain-label policy."""

    names: tuple[str, ...] | None = None
    uncertain: UncertainPolicy = "ignore"

    @classmethod
    def of(cls, names: Sequence[str] | None, uncertain: str = "ignore") -> LabelOptions:
        """Options from config values (names checked: not empty, no separator, no repeats)."""
        if names is None:
            return cls(None, uncertain)  # type: ignore[arg-type]
        cleaned = tuple(str(n).strip() for n in names)
        check_label_names(cleaned, "data.labels / --label-columns")
        repeated = sorted({n for n in cleaned if cleaned.count(n) > 1})
        if repeated:
            raise DataError(f"data.labels / --label-columns: label(s) {repeated} listed more than once")
        return cls(cleaned, uncertain)  # type: ignore[arg-type]


def check_label_names(names: Sequence[str], source: str) -> None:
    """Refuse label names that cannot travel as label texts or table columns.

    Raises:
        DataError: naming the bad names and the rule.
    """
    bad = [
        n
        for n in names
        if not n or SEPARATOR in n or n.endswith(UNCERTAIN_MARK) or n.lower() in RESERVED_NAMES
    ]
    if bad:
        raise DataError(
            f"{source}: bad label name(s) {bad!r}; a name is not empty, has no '{SEPARATOR}' and no trailing "
            f"'{UNCERTAIN_MARK}', and is none of {', '.join(RESERVED_NAMES)}"
        )


def encode(values: Sequence[float], names: Sequence[str]) -> str:
    """The label text of one image from its per-label values (1 positive, 0 negative, NaN uncertain)."""
    parts = []
    for name, value in zip(names, values, strict=True):
        if value != value:  # NaN
            parts.append(name + UNCERTAIN_MARK)
        elif value:
            parts.append(name)
    return SEPARATOR.join(parts)


def label_names_of(text: str) -> list[str]:
    """The positive label names of one label text (uncertain ones left out)."""
    return [
        p.strip() for p in str(text).split(SEPARATOR) if p.strip() and not p.strip().endswith(UNCERTAIN_MARK)
    ]


def label_matrix(texts: Sequence[str], names: Sequence[str], source: str = "the labels") -> np.ndarray:
    """``(N, K)`` float targets of label texts: 1 positive, 0 negative, NaN uncertain.

    Raises:
        DataError: a name that is not in ``names`` (the message names it and the allowed ones).
    """
    column = {name: j for j, name in enumerate(names)}
    matrix = np.zeros((len(texts), len(names)), dtype=np.float32)
    for i, text in enumerate(texts):
        for part in filter(None, (p.strip() for p in str(text).split(SEPARATOR))):
            name = part.removesuffix(UNCERTAIN_MARK)
            if name not in column:
                raise DataError(f"{source}: label {name!r} is not in the label list ({', '.join(names)})")
            matrix[i, column[name]] = np.nan if part.endswith(UNCERTAIN_MARK) else 1.0
    return matrix


# The value an uncertain label takes under each policy (NaN: left out of the loss and the metrics).
POLICY_VALUE = {"ignore": np.nan, "zeros": 0.0, "ones": 1.0}


def apply_policy(values: np.ndarray | float, policy: str) -> np.ndarray:
    """Uncertain values (-1) under ``policy``: NaN (``ignore``), 0 or 1; other values unchanged."""
    values = np.asarray(values, dtype=np.float32)
    return np.where(values == -1, np.float32(POLICY_VALUE[policy]), values)


class ManifestLabels:
    """Reads one row's labels of a multi-label CSV manifest (either layout, see the module docstring).

    Build it with :meth:`from_header`, which returns None for a single-label manifest.
    """

    def __init__(
        self,
        names: list[str],
        columns: dict[str, int] | None,
        labels_column: int | None,
        options: LabelOptions,
    ) -> None:
        self.names = names
        self.columns = columns
        self.labels_column = labels_column
        self.options = options
        self.listed = options.names is not None

    @classmethod
    def from_header(
        cls, header: list[str], raw_header: list[str], options: LabelOptions
    ) -> ManifestLabels | None:
        """The reader of a manifest's labels, None when the manifest is single-label (a ``label`` column and
        no label list).

        Raises:
            DataError: label columns named in ``data.labels`` that the header lacks.
        """
        if LABELS_COLUMN in header:
            names = list(options.names) if options.names else []
            return cls(names, None, header.index(LABELS_COLUMN), options)
        if options.names is None:
            return None
        raw = [h.strip() for h in raw_header]
        missing = [n for n in options.names if n not in raw]
        if missing:
            raise DataError(
                f"line 1 (header): label column(s) {', '.join(repr(m) for m in missing)} of --label-columns "
                f"/ data.labels not found; found {', '.join(repr(h) for h in raw)}"
            )
        return cls(list(options.names), {n: raw.index(n) for n in options.names}, None, options)

    def read(self, cell: Callable[[int], str | None], where: str) -> tuple[str | None, str | None]:
        """``(label text, None)`` of a row, or ``(None, problem)``; ``cell(i)`` is column ``i`` or None when
        the row is too short."""
        if self.labels_column is not None:
            text = cell(self.labels_column)
            if text is None:
                return None, f"{where}, column 'labels': missing (the row is short)"
            return self._from_names(text, where)
        values = []
        for name, index in (self.columns or {}).items():
            raw = cell(index)
            if raw is None or raw == "":
                return None, f"{where}, column {name!r}: missing (expected 0, 1 or -1 for uncertain)"
            try:
                value = float(raw)
            except ValueError:
                value = None
            if value not in (0.0, 1.0, -1.0):
                return None, f"{where}, column {name!r}: {raw!r} is not 0, 1 or -1 (uncertain)"
            values.append(float(apply_policy(value, self.options.uncertain)))
        return encode(values, self.names), None

    def _from_names(self, text: str, where: str) -> tuple[str | None, str | None]:
        parts = [p.strip() for p in text.split(SEPARATOR) if p.strip()]
        for part in parts:
            name = part.removesuffix(UNCERTAIN_MARK)
            if self.listed and name not in self.names:
                return None, (
                    f"{where}, column 'labels': {name!r} is not in the label list ({', '.join(self.names)})"
                )
            if not self.listed and name not in self.names:
                self.names.append(name)
        return SEPARATOR.join(parts), None

    def finish(self, texts: Sequence[str]) -> tuple[list[str], list[str]]:
        """The label names (found names sorted unless listed) and the texts re-encoded in their order, with
        the uncertain policy applied."""
        names = self.names if self.listed or self.columns is not None else sorted(self.names)
        check_label_names(names, "column 'labels'")
        matrix = label_matrix(texts, names)
        if self.options.uncertain != "ignore":
            matrix = np.where(np.isnan(matrix), POLICY_VALUE[self.options.uncertain], matrix)
        return names, [encode(row, names) for row in matrix]


def npz_label_texts(
    npz_path: Path, data: NpzData, options: LabelOptions
) -> tuple[list[str], list[tuple[Path, str, str]]]:
    """The label names and ``(member path, label text, split)`` of every image of an npz with ``(N, K)`` labels
    (ChestMNIST's layout; -1 uncertain): names from ``data.labels``, else the column numbers.

    Raises:
        DataError: ``data.labels`` of another length than K, or a label that never occurs.
    """
    k = data.n_labels
    names = list(options.names) if options.names else [str(j).zfill(len(str(k - 1))) for j in range(k)]
    if len(names) != k:
        raise DataError(
            f"{npz_path}: the labels have {k} columns but data.labels / --label-columns names {len(names)}"
        )
    rows, values_of_splits = [], []
    for split, labels in data.labels.items():
        values = apply_policy(labels, options.uncertain)
        values_of_splits.append(values)
        rows += [(member_path(npz_path, split, i), encode(v, names), split) for i, v in enumerate(values)]
    check_labels_occur(np.concatenate(values_of_splits), names, str(npz_path))
    return names, rows


def check_labels_occur(matrix: np.ndarray, names: Sequence[str], source: str) -> None:
    """Refuse a label that never occurs (an all-zero column) or occurs on every image: neither can be learned.

    Raises:
        DataError: naming the label(s).
    """
    if len(names) < 2:
        raise DataError(
            f"{source}: {len(names)} label(s) ({', '.join(names) or 'none'}): a multi-label task needs at least "
            "two labels (one label is a binary task: use a path,label manifest)"
        )
    positives = np.nansum(matrix, axis=0)
    known = (~np.isnan(matrix)).sum(axis=0)
    never = [n for n, p in zip(names, positives, strict=True) if p == 0]
    always = [n for n, p, k in zip(names, positives, known, strict=True) if p == k and k > 0]
    problems = []
    if never:
        problems.append(f"label(s) {', '.join(repr(n) for n in never)} never occur (all-zero column)")
    if always:
        problems.append(f"label(s) {', '.join(repr(n) for n in always)} are positive on every image")
    if problems:
        raise DataError(
            f"{source}: {'; '.join(problems)}: such a label cannot be learned; drop it from the list"
        )


def check_label_splits(matrix: np.ndarray, splits: Sequence[str], names: Sequence[str], source: str) -> None:
    """Refuse splits in which a label has no positive or no negative image in train (or in val, where there
    is a val): it could not be learned or its operating point chosen.

    Raises:
        DataError: naming each label and split.
    """
    splits = np.asarray(splits, dtype=object)
    problems = []
    for split in ("train", "val"):
        rows = matrix[splits == split]
        if split == "val" and len(rows) == 0:
            continue
        for j, name in enumerate(names):
            column = rows[:, j][~np.isnan(rows[:, j])]
            if not (column == 1).any() or not (column == 0).any():
                kind = "positive" if not (column == 1).any() else "negative"
                problems.append(f"label {name!r} has no {kind} image in the {split} split")
    if problems:
        raise DataError(
            f"{source}: {len(problems)} problem(s) with the labels:\n  "
            + "\n  ".join(problems)
            + "\n  add images, change the split fractions, or drop the label"
        )


def label_statistics(matrix: np.ndarray, names: Sequence[str]) -> dict[str, object]:
    """Per-label frequencies and the co-occurrence counts: ``{"labels", "frequency": {name: {"positive",
    "uncertain", "share"}}, "co_occurrence": {a: {b: images with both}}, "no_finding", "n"}``."""
    known = np.nan_to_num(matrix, nan=0.0) > 0
    uncertain = np.isnan(matrix)
    n = len(matrix)
    both = known.T.astype(np.int64) @ known.astype(np.int64)
    return {
        "labels": list(names),
        "n": n,
        "frequency": {
            name: {
                "positive": int(known[:, j].sum()),
                "uncertain": int(uncertain[:, j].sum()),
                "share": float(known[:, j].mean()) if n else 0.0,
            }
            for j, name in enumerate(names)
        },
        "co_occurrence": {a: {b: int(both[i, j]) for j, b in enumerate(names)} for i, a in enumerate(names)},
        "no_finding": int((~known.any(axis=1) & ~uncertain.any(axis=1)).sum()),
    }


def check_manifest_labels(path: str | Path, names: Sequence[str]) -> None:
    """Refuse, in one line, a multi-label CSV manifest that a model with labels ``names`` cannot be scored on:
    a ``labels`` column naming a label the model does not know, or (the one-column-per-label layout) a model
    label without its column. Other columns are left alone (they may be subgroup columns such as ``sex``).

    Raises:
        DataError: naming the file, the line and the label.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [cell.strip() for cell in next(reader, [])]
            lowered = [cell.lower() for cell in header]
            if LABELS_COLUMN in lowered:
                column = lowered.index(LABELS_COLUMN)
                for line, row in enumerate(reader, start=2):
                    for part in (row[column] if column < len(row) else "").split(SEPARATOR):
                        name = part.strip().removesuffix(UNCERTAIN_MARK)
                        if name and name not in names:
                            raise DataError(
                                f"{path}: line {line}, column 'labels': {name!r} is not a label of the model "
                                f"({', '.join(names)})"
                            )
                return
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read the CSV manifest: {exc}") from None
    missing = [name for name in names if name not in header]
    if missing:
        raise DataError(
            f"{path}: no column for the model's label(s) {', '.join(repr(m) for m in missing)}; a multi-label "
            f"manifest has a 'labels' column or one 0/1 column per label ({', '.join(names)})"
        )
