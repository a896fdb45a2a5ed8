"""Find the images and labels of a data set from the path alone (``--data``), without extra flags.

Four layouts are understood:

1. **folders**: ``DIR/<class>/...``, one folder per class; images may be nested deeper inside a class folder.
2. **presplit**: ``DIR/<split>/<class>/...`` where every top-level folder is a split name, case-insensitive:
   ``train``/``training``, ``val``/``valid``/``validation``, ``test``/``testing`` (normalised to ``train``,
   ``val``, ``test``).
3. **csv**: a manifest ``FILE.csv`` with columns ``path,label`` and optional ``split``, ``group``; relative
   paths resolve against the CSV's folder.

Hidden files and folders (name starting with ``.``, e.g. ``.DS_Store``, ``.ipynb_checkpoints``) and macOS
``__MACOSX`` folders are skipped silently, and so are loose files beside the class (or split) folders, such as
a README or ``lesions.csv``. Other non-image files inside class folders are listed in ``DataIndex.ignored``
with the reason. Samples are sorted by the natural order of their path relative to the root (``img2`` before
``img10``); classes are the sorted class-folder names (or labels).
"""

from __future__ import annotations

import csv
import dataclasses
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from medclass.config.schema import IMAGE_EXTENSIONS
from medclass.data.files import file_problem
from medclass.data.multilabel import (
    LabelOptions,
    ManifestLabels,
    check_labels_occur,
    label_matrix,
    npz_label_texts,
)
from medclass.data.npz import is_npz_file, load_npz, member_path
from medclass.data.readers import is_image_file
from medclass.utils.errors import DataError
from medclass.utils.io import natural_key

# Folder or CSV split names (lower-case) -> the normalised split.
SPLIT_NAMES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
    "testing": "test",
}
SPLITS = ("train", "val", "test")

_EXTENSIONS = " ".join(IMAGE_EXTENSIONS)
LAYOUT_HELP = f"""Expected one of these layouts:
  DIR/<class>/<image>              one folder per class (images may be nested deeper inside it)
  DIR/<split>/<class>/<image>      pre-split; <split> is train|val|test (also valid, validation,
                                   Training, Testing; any case)
  FILE.csv                         columns path,label and optional split,group; relative paths
                                   resolve against the CSV's folder
  FILE.csv (multi-label)           columns path,labels ("effusion|cardiomegaly", empty: none), or
                                   path and one 0/1 column per label (--label-columns a,b,c)
  FILE.npz                         MedMNIST arrays: train_images, train_labels and optional
                                   val_images/val_labels, test_images/test_labels
Image files: {_EXTENSIONS} (any case)."""

_JUNK_FOLDERS = {"__macosx"}


@dataclass(frozen=True)
class Sample:
    """One image: its file, class label, split (``train``/``val``/``test`` or None), group (patient id)."""

    path: Path
    label: str
    split: str | None = None
    group: str | None = None


@dataclass
class DataIndex:
    """What :func:`discover` found.

    Attributes:
        root: The folder sample paths are relative to (the data folder, or the CSV's folder).
        layout: ``"folders"``, ``"presplit"``, ``"csv"`` or ``"npz"``.
        classes: Sorted class names; a label's index in this list is its class id.
        samples: Every image, in natural order of the relative path.
        ignored: ``(path, reason)`` of files inside class folders that are not images.
        source: The path given to :func:`discover` (the folder, or the CSV file).
        multilabel: ``classes`` are label names, a ``label`` the text of :mod:`medclass.data.multilabel`.
    """

    root: Path
    layout: Literal["folders", "presplit", "csv", "npz"]
    classes: list[str]
    samples: list[Sample]
    ignored: list[tuple[Path, str]] = field(default_factory=list)
    source: Path | None = None
    multilabel: bool = False

    @property
    def has_splits(self) -> bool:
        """Whether the layout itself assigns splits (pre-split folders, a CSV ``split`` column, an npz)."""
        return any(sample.split is not None for sample in self.samples)

    def class_counts(self, split: str | None = None) -> dict[str, int]:
        """Images per class (in class order), over every sample or over one split."""
        counts = Counter(s.label for s in self.samples if split is None or s.split == split)
        return {name: counts.get(name, 0) for name in self.classes}

    def split_counts(self) -> dict[str, int]:
        """Images per split (only the splits present), in train/val/test order."""
        counts = Counter(s.split for s in self.samples if s.split is not None)
        return {name: counts[name] for name in SPLITS if name in counts}


def _error(path: Path, problem: str, help_text: bool = True) -> DataError:
    message = f"{path}: {problem}"
    return DataError(f"{message}\n{LAYOUT_HELP}" if help_text else message)


def _skip(name: str) -> bool:
    return name.startswith(".") or name.lower() in _JUNK_FOLDERS


def _subfolders(folder: Path) -> tuple[list[Path], list[Path]]:
    """Visible sub-folders and visible files of ``folder``, each naturally sorted."""
    folders, files = [], []
    with os.scandir(folder) as entries:
        for entry in entries:
            if _skip(entry.name):
                continue
            if entry.is_dir():
                folders.append(Path(entry.path))
            elif entry.is_file():
                files.append(Path(entry.path))
    folders.sort(key=lambda p: natural_key(p.name))
    files.sort(key=lambda p: natural_key(p.name))
    return folders, files


def _not_image_reason(path: Path) -> str:
    if path.name.startswith("."):
        return "hidden file"
    suffix = path.suffix.lower()
    return f"not an image file (extension {suffix})" if suffix else "not an image file (no extension)"


def _walk_class(folder: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Image files anywhere under a class folder, and the non-image files with the reason."""
    images: list[Path] = []
    ignored: list[tuple[Path, str]] = []
    for current, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not _skip(d)]
        for name in files:
            if _skip(name):
                continue
            path = Path(current, name)
            if is_image_file(path):
                images.append(path)
            else:
                ignored.append((path, _not_image_reason(path)))
    return images, ignored


def _collect_classes(
    parent: Path, root: Path, split: str | None
) -> tuple[list[Sample], list[tuple[Path, str]], list[str]]:
    folders, files = _subfolders(parent)
    ignored = [(p, "image file outside any class folder") for p in files if is_image_file(p)]
    samples: list[Sample] = []
    for folder in folders:
        images, skipped = _walk_class(folder)
        if not images:
            where = f"class folder '{folder.name}'" + (f" of split '{parent.name}'" if split else "")
            raise _error(folder, f"{where} has no image file", help_text=False)
        samples += [Sample(path, folder.name, split) for path in images]
        ignored += skipped
    return samples, ignored, [f.name for f in folders]


def _sort(samples: list[Sample], root: Path) -> list[Sample]:
    def key(sample: Sample) -> list:
        try:
            rel = sample.path.relative_to(root).as_posix()
        except ValueError:
            rel = sample.path.as_posix()
        return natural_key(rel)

    return sorted(samples, key=key)


def _check_classes(path: Path, classes: list[str], samples: list[Sample]) -> None:
    if not samples:
        raise _error(path, "no image file found")
    if len(classes) < 2:
        found = f"only one class ('{classes[0]}')" if classes else "no class"
        hint = ""
        if classes and path.is_dir() and (path / classes[0]).is_dir():
            hint = f"; if the class folders are one level deeper, use --data {path / classes[0]}"
        raise _error(path, f"{found}: a classifier needs at least two classes{hint}")


def _discover_folder(root: Path) -> DataIndex:
    folders, files = _subfolders(root)
    if not folders:
        if any(is_image_file(p) for p in files):
            raise _error(root, "the images lie directly in this folder; put them in one folder per class")
        raise _error(root, "empty folder (no class folders)" if not files else "no class folders")

    split_of = {f: SPLIT_NAMES.get(f.name.lower()) for f in folders}
    named = [f for f in folders if split_of[f]]
    if named and len(named) < len(folders):
        others = ", ".join(f.name for f in folders if not split_of[f])
        splits = ", ".join(f.name for f in named)
        raise _error(
            root,
            f"mixes split folders ({splits}) with other folders ({others}); use either split folders "
            "or class folders at the top level",
        )

    if not named:
        samples, ignored, classes = _collect_classes(root, root, None)
        classes = sorted(classes)
        _check_classes(root, classes, samples)
        return DataIndex(root, "folders", classes, _sort(samples, root), ignored, source=root)

    seen: dict[str, Path] = {}
    for folder in named:
        split = split_of[folder]
        if split in seen:
            raise _error(root, f"folders '{seen[split].name}' and '{folder.name}' are both the {split} split")
        seen[split] = folder
    samples, ignored, found = [], [], set()
    per_split: dict[str, set[str]] = {}
    for folder in named:
        split = split_of[folder]
        split_samples, split_ignored, split_classes = _collect_classes(folder, root, split)
        if not split_classes:
            raise _error(folder, f"split folder '{folder.name}' has no class folders")
        samples += split_samples
        ignored += split_ignored
        found.update(split_classes)
        per_split[split] = set(split_classes)
    classes = sorted(found)
    _check_classes(root, classes, samples)
    if "train" in per_split:
        missing = [c for c in classes if c not in per_split["train"]]
        if missing:
            raise _error(
                root,
                f"class(es) {', '.join(missing)} have no folder in the training split '{seen['train'].name}'",
                help_text=False,
            )
    return DataIndex(root, "presplit", classes, _sort(samples, root), ignored, source=root)


def _discover_csv(csv_path: Path, options: LabelOptions) -> DataIndex:
    base = csv_path.parent
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise _error(csv_path, f"cannot read the CSV manifest: {exc}") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise _error(csv_path, "empty CSV manifest (no header row)")
    header = [cell.strip().lower() for cell in rows[0]]
    try:
        multilabel = ManifestLabels.from_header(header, rows[0], options)
    except DataError as exc:
        raise _error(csv_path, str(exc)) from None
    missing = [
        name for name in ("path", "label") if name not in header and not (multilabel and name == "label")
    ]
    if missing:
        raise _error(
            csv_path,
            f"line 1 (header): missing column(s) {', '.join(repr(m) for m in missing)}; "
            f"found {', '.join(repr(h) for h in header)}",
        )
    col = {name: header.index(name) for name in ("path", "label", "split", "group") if name in header}

    problems: list[str] = []
    samples: list[Sample] = []
    first_line: dict[Path, int] = {}

    def cell(row: list[str], name: str) -> str:
        index = col.get(name)
        return row[index].strip() if index is not None and index < len(row) else ""

    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue  # blank line
        where = f"line {line}"
        raw_path, label = cell(row, "path"), cell(row, "label")
        if not raw_path:
            problems.append(f"{where}, column 'path': empty")
            continue
        if multilabel is not None:
            label, problem = multilabel.read(lambda i, r=row: r[i].strip() if i < len(r) else None, where)
            if problem is not None:
                problems.append(problem)
                continue
        elif not label:
            problems.append(f"{where}, column 'label': empty (path {raw_path})")
            continue
        path = Path(os.path.expanduser(raw_path))  # ~unknown-user stays as written (Path.expanduser raises)
        path = Path(os.path.normpath(path if path.is_absolute() else base / path))
        split = None
        if "split" in col:
            raw_split = cell(row, "split")
            split = SPLIT_NAMES.get(raw_split.lower())
            if split is None:
                problems.append(
                    f"{where}, column 'split': unknown value {raw_split!r} "
                    f"(allowed: {', '.join(sorted(SPLIT_NAMES))})"
                )
                continue
        problem = file_problem(path)
        if problem is not None:
            problems.append(f"{where}, column 'path': {problem}: {path}")
            continue
        if not is_image_file(path):
            problems.append(f"{where}, column 'path': {_not_image_reason(path)}: {path}")
            continue
        if path in first_line:
            problems.append(f"{where}, column 'path': {raw_path} already listed on line {first_line[path]}")
            continue
        first_line[path] = line
        samples.append(Sample(path, label, split, cell(row, "group") or None))

    if problems:
        shown = "\n  ".join(problems[:10])
        more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise DataError(f"{csv_path}: {len(problems)} bad row(s) in the CSV manifest:\n  {shown}{more}")
    if not samples:
        raise _error(csv_path, "the CSV manifest lists no image")
    if multilabel is not None:
        names, texts = multilabel.finish([s.label for s in samples])
        check_labels_occur(label_matrix(texts, names), names, str(csv_path))
        samples = [dataclasses.replace(s, label=t) for s, t in zip(samples, texts, strict=True)]
        return DataIndex(base, "csv", names, _sort(samples, base), [], source=csv_path, multilabel=True)
    classes = sorted({s.label for s in samples})
    _check_classes(csv_path, classes, samples)
    return DataIndex(base, "csv", classes, _sort(samples, base), [], source=csv_path)


def _discover_npz(npz_path: Path, options: LabelOptions) -> DataIndex:
    problem = file_problem(npz_path)
    if problem is not None:
        raise _error(npz_path, problem, help_text=False)
    data = load_npz(npz_path)
    if data.multilabel:
        names, rows = npz_label_texts(npz_path, data, options)
        samples = [Sample(path, text, split) for path, text, split in rows]
        return DataIndex(npz_path.parent, "npz", names, samples, [], source=npz_path, multilabel=True)
    samples = [
        Sample(member_path(npz_path, split, i), data.class_name(value), split)
        for split, labels in data.labels.items()
        for i, value in enumerate(labels.tolist())
    ]
    classes = [data.class_name(value) for value in data.label_values]
    _check_classes(npz_path, classes, samples)
    return DataIndex(npz_path.parent, "npz", classes, samples, [], source=npz_path)


def discover(path: str | os.PathLike, labels: LabelOptions | None = None) -> DataIndex:
    """Find the images, labels and (if given) splits of a data set.

    Args:
        path: A data folder (folder-per-class or pre-split), a ``.csv`` manifest or a MedMNIST ``.npz``.
        labels: multi-label options (label names, uncertain policy; see :mod:`medclass.data.multilabel`).

    Returns:
        A :class:`DataIndex` with absolute sample paths.

    Raises:
        DataError: missing path, empty folder, a class folder without images, one class only, mixed
            split/class folders, or a bad CSV (the message names the file, line and column).

    Example:
        >>> index = discover("data/brain_mri")  # doctest: +SKIP
        >>> index.layout, index.classes, len(index.samples)  # doctest: +SKIP
        ('folders', ['no', 'yes'], 253)
    """
    given = Path(os.path.expanduser(path))  # ~unknown-user stays as written (Path.expanduser raises)
    root = Path(os.path.normpath(given.absolute()))
    if not root.exists():
        raise _error(root, "no such file or folder")
    if root.is_file():
        if root.suffix.lower() == ".csv":
            return _discover_csv(root, labels or LabelOptions())
        if is_npz_file(root):
            return _discover_npz(root, labels or LabelOptions())
        raise _error(root, "is a file, but not a .csv manifest or a .npz file")
    if not root.is_dir():
        raise _error(root, "is neither a folder nor a .csv manifest")
    return _discover_folder(root)
