"""Group-aware iterative stratification of multi-label data (the multi-label twin of
:func:`medclass.data.splits.stratified_assignment`).

A per-class quota cannot stratify a set whose images carry several labels at once: the ``2**K`` label
combinations are mostly too rare to divide. Iterative stratification (Sechidis, Tsoumakas & Vlahavas, ECML
PKDD 2011) assigns the images of the rarest label first to the bin that still wants most of that label, which
keeps every label's share close to the bin fractions. We use the implementation of ``iterative-stratification``
(iterstrat, BSD-3): small, pure numpy on top of scikit-learn (already a dependency), published on PyPI, and it
takes arbitrary bin fractions (``IterativeStratification(labels, r, random_state)``), so train/val/test come from
one pass. scikit-multilearn (last release 2018; its fork scikit-multilearn-ng is young) brings a whole multi-label
framework for this one function.

Groups (patients, and duplicate components) stay whole: the algorithm runs on groups, a group's labels being the
union of its images' labels (an uncertain label counts as absent), and every image follows its group. Bin sizes
are then counted in groups, which matches image counts when groups are small, as patients' studies are.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def multilabel_assignment(
    targets: np.ndarray,
    groups: Sequence[int] | np.ndarray | None,
    fractions: Sequence[float],
    rng: np.random.Generator,
) -> np.ndarray:
    """Assign items to bins so that each label is divided by ``fractions`` and no group is cut.

    Args:
        targets: ``(N, K)`` per-label values (1 positive; 0 or NaN otherwise).
        groups: integer group code per item (items of one code stay together); None: every item alone.
        fractions: share of each bin, positive (normalised to sum 1).
        rng: source of the shuffling and of the tie-breaks.

    Returns:
        ``int`` array, the bin of each item.

    Example:
        >>> y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]] * 25, dtype=float)
        >>> np.bincount(multilabel_assignment(y, None, [0.2, 0.8], np.random.default_rng(0))).tolist()
        [20, 80]
    """
    from iterstrat.ml_stratifiers import IterativeStratification

    n = len(targets)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    fractions = np.asarray(fractions, dtype=np.float64)
    if fractions.ndim != 1 or fractions.size == 0 or (fractions <= 0).any():
        raise ValueError(f"fractions {fractions.tolist()}: need one or more positive values")
    positive = np.nan_to_num(np.asarray(targets, dtype=np.float64), nan=0.0) > 0
    codes = np.arange(n) if groups is None else np.unique(np.asarray(groups), return_inverse=True)[1]
    n_groups = int(codes.max()) + 1
    group_labels = np.zeros((n_groups, positive.shape[1]), dtype=bool)
    np.logical_or.at(group_labels, codes, positive)  # iterstrat indexes with each row: it must be boolean
    # iterstrat walks the samples in order; a seeded shuffle of the groups makes the split depend on the seed.
    order = rng.permutation(n_groups)
    state = np.random.RandomState(int(rng.integers(0, 2**31 - 1)))
    chosen = IterativeStratification(group_labels[order], fractions / fractions.sum(), state)
    bins = np.empty(n_groups, dtype=np.int64)
    bins[order] = chosen
    return bins[codes]
