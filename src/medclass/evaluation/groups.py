"""Patient-level (group-level) scoring: image probabilities aggregated per group, and group codes for the
cluster bootstrap of :func:`medclass.evaluation.bootstrap.bootstrap_ci`.

A clinical claim is made per patient or study, and the images of one patient are correlated: counted per
image, accuracy weighs a patient by the number of slices, and an image-level bootstrap treats correlated
slices as independent evidence, so its intervals are too narrow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["GROUP_AGGREGATES", "aggregate_by_group", "group_codes"]

GroupAggregate = Literal["mean", "max"]
GROUP_AGGREGATES: tuple[str, ...] = ("mean", "max")


def group_codes(groups: Sequence[object], paths: Sequence[str] | None = None) -> np.ndarray:
    """Integer code ``0 .. G-1`` per image, in order of first appearance.

    An empty or missing group (``""``, ``None``, NaN) makes the image a group of its own (keyed by its path
    when ``paths`` is given, else by its position).
    """
    keys: list[str] = []
    for i, g in enumerate(groups):
        missing = g is None or (isinstance(g, float) and np.isnan(g)) or str(g).strip() == ""
        own = paths[i] if paths is not None else str(i)
        keys.append(f"\0image:{own}" if missing else str(g))
    _, first, inverse = np.unique(np.asarray(keys, dtype=object), return_index=True, return_inverse=True)
    # Renumber by first appearance so codes follow the order of the images.
    order = np.argsort(np.argsort(first))
    return order[inverse].astype(np.int64)


def aggregate_by_group(
    y_true: ArrayLike,
    probs: ArrayLike,
    codes: ArrayLike,
    how: GroupAggregate = "mean",
    positive: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One label and one probability row per group.

    Args:
        y_true: true class index per image ``(N,)``.
        probs: probabilities per image ``(N, K)``.
        codes: group code per image ``(N,)``, ``0 .. G-1`` (see :func:`group_codes`).
        how: ``mean``: the mean probability row of the group's images; ``max``: binary, the highest
            positive-class probability of the group (a patient is as suspicious as the worst image), its
            complement for the other class; multi-class, each column's maximum, renormalised to sum to 1.
        positive: binary: index of the positive class (default 1).

    Returns:
        ``(y_group (G,), probs_group (G, K))``. A group's label is the positive class when any of its images is
        positive (binary: a patient with one positive image is a positive patient), otherwise its most
        frequent label (ties: the lower index).

    Raises:
        ValueError: mismatched lengths or an unknown ``how``.
    """
    y = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(probs, dtype=np.float64)
    c = np.asarray(codes, dtype=np.int64)
    if p.ndim != 2 or y.shape != (p.shape[0],) or c.shape != y.shape:
        raise ValueError(f"y_true {y.shape}, probs {p.shape} and group codes {c.shape} must share N")
    if how not in GROUP_AGGREGATES:
        raise ValueError(f"group aggregate {how!r}: expected one of {', '.join(GROUP_AGGREGATES)}")
    n_groups, k = int(c.max()) + 1, p.shape[1]
    label_counts = np.zeros((n_groups, k), dtype=np.int64)
    np.add.at(label_counts, (c, y), 1)
    y_group = np.argmax(label_counts, axis=1)
    pos = 1 if positive is None else int(positive)
    if k == 2:
        y_group = np.where(label_counts[:, pos] > 0, pos, 1 - pos)
    if how == "mean":
        sums = np.zeros((n_groups, k))
        np.add.at(sums, c, p)
        p_group = sums / np.bincount(c, minlength=n_groups)[:, None]
    else:
        p_group = np.full((n_groups, k), -np.inf)
        np.maximum.at(p_group, c, p)
        if k == 2:
            p_group[:, 1 - pos] = 1.0 - p_group[:, pos]
        else:
            p_group = p_group / p_group.sum(axis=1, keepdims=True)
    return y_group.astype(np.int64), p_group
