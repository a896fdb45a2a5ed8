"""Per-image attributes from a CSV (site, sex, age band, scanner, view, ...): the extra columns of a data
manifest, or a file that maps image paths to such columns. ``medclass validate --subgroups`` reads them.

Paths resolve as in a manifest (:mod:`medclass.data.discovery`): relative to the CSV's folder, ``~`` expanded;
images are matched by their real path, so a link and its target are one image.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from medclass.utils.errors import DataError

# Columns of a manifest that are not attributes: the sample itself and how it is split.
_SAMPLE_COLUMNS = ("path", "label", "split")


def image_key(path: str | os.PathLike) -> str:
    """The key an image is matched by: its real, normalised path."""
    return os.path.realpath(os.path.expanduser(str(path)))


def read_attributes(csv_path: str | os.PathLike) -> dict[str, dict[str, str]]:
    """Attribute columns per image of a CSV with a ``path`` column.

    Args:
        csv_path: a data manifest (``path,label[,split][,group],...``) or a file ``path,<column>,...``.

    Returns:
        ``{image_key(path): {column: value}}`` for every column but ``path``, ``label`` and ``split`` (column
        names lower-cased and stripped; empty cells are left out).

    Raises:
        DataError: the file cannot be read or has no ``path`` column (named).
    """
    csv_path = Path(csv_path)
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{csv_path}: cannot read the CSV: {exc}") from None
    header = [cell.strip().lower() for cell in rows[0]] if rows else []
    if "path" not in header:
        raise DataError(f"{csv_path}: line 1 (header): no 'path' column; found {header or 'nothing'}")
    path_at = header.index("path")
    columns = [(i, name) for i, name in enumerate(header) if name and name not in _SAMPLE_COLUMNS]
    attributes: dict[str, dict[str, str]] = {}
    for row in rows[1:]:
        if len(row) <= path_at or not row[path_at].strip():
            continue
        path = Path(os.path.expanduser(row[path_at].strip()))
        values = {name: row[i].strip() for i, name in columns if i < len(row) and row[i].strip()}
        attributes[image_key(path if path.is_absolute() else csv_path.parent / path)] = values
    return attributes


def attribute_columns(attributes: dict[str, dict[str, str]]) -> set[str]:
    """Every column that holds a value for at least one image."""
    return {name for values in attributes.values() for name in values}
