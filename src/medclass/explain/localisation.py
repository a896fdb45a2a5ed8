"""The pointing game (Zhang et al. 2018): does a map's maximum fall on the object, within a tolerance?

A map hits when the centre of its maximum pixel lies within ``tolerance`` pixels of the object's box
(``x0, y0, x1, y1``, inclusive-exclusive, in map pixels). The tolerance absorbs the one-pixel uncertainty of
the box and of the argmax; the original paper used 15 px at 224 px.

Without boxes (real scans), ``medclass.data.body_mask.energy_inside`` is the share of a map's energy inside
the body outline (``body_mask``; the explanation benchmark uses the image above a tenth of its intensity range,
holes filled, the largest component). A map that puts its energy on the background or the image border points at a shortcut, not at anatomy; compare
it with the share of the image's area the outline covers (a flat map's share).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from medclass.utils.errors import DataError

Box = tuple[float, float, float, float]


def map_peak(heat: np.ndarray) -> tuple[float, float]:
    """``(x, y)`` centre of the maximum pixel of a 2-D map (the first one in raster order on ties)."""
    row, col = np.unravel_index(int(np.argmax(heat)), np.shape(heat))
    return col + 0.5, row + 0.5


def distance_to_box(point: tuple[float, float], box: Box) -> float:
    """Euclidean distance from ``point`` = ``(x, y)`` to ``box`` (0 inside it)."""
    x, y = point
    x0, y0, x1, y1 = box
    return float(np.hypot(max(x0 - x, 0.0, x - x1), max(y0 - y, 0.0, y - y1)))


def pointing_game(maps: Sequence[np.ndarray], boxes: Sequence[Box], tolerance: float) -> np.ndarray:
    """``(N,)`` booleans: whether each map's maximum lies within ``tolerance`` px of its box.

    Raises:
        ValueError: different numbers of maps and boxes, or a negative tolerance.
    """
    if len(maps) != len(boxes) or tolerance < 0:
        raise ValueError(
            f"{len(maps)} maps, {len(boxes)} boxes, tolerance {tolerance}: need equal counts, >= 0"
        )
    return np.array([distance_to_box(map_peak(m), b) <= tolerance for m, b in zip(maps, boxes, strict=True)])


def read_boxes(boxes_csv: Path) -> dict[str, Box]:
    """``resolved path -> (x0, y0, x1, y1)`` from a CSV with those columns; relative paths are relative to the
    CSV's folder (as in the ``lesions.csv`` of ``medclass.data.synthetic.make_phantom_dataset``).

    Raises:
        DataError: the file cannot be read or lacks a column (named).
    """
    try:
        table = pd.read_csv(boxes_csv)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{boxes_csv}: cannot read the boxes CSV ({exc})") from None
    missing = [c for c in ("path", "x0", "y0", "x1", "y1") if c not in table.columns]
    if missing:
        raise DataError(f"{boxes_csv}: missing column(s) {missing}; expected path,x0,y0,x1,y1")
    boxes = {}
    for row in table.itertuples(index=False):
        path = Path(row.path)
        path = path if path.is_absolute() else boxes_csv.parent / path
        boxes[str(path.resolve())] = (float(row.x0), float(row.y0), float(row.x1), float(row.y1))
    return boxes


def scaled_box(box: Box, width: int, height: int, size: int, pad: float) -> Box:
    """A box in original-image pixels mapped onto a ``size`` x ``size`` input (stretched) and dilated by
    ``pad`` pixels on every side."""
    sx, sy = size / width, size / height
    x0, y0, x1, y1 = box
    return (x0 * sx - pad, y0 * sy - pad, x1 * sx + pad, y1 * sy + pad)
