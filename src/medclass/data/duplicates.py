"""Exact and near-duplicate images, and how each group relates to classes and splits.

- **Exact** groups: files with the same bytes (same md5), two or more of them. Unreadable files take part too.
- **Near** groups: connected components of the graph whose nodes are the readable files and whose edges join
  two files with perceptual hashes (``imagehash.phash``, 64 bits) at most ``near_distance`` bits apart, kept
  when the component holds at least two *distinct* contents (md5s). An exact group therefore either lies
  wholly inside one near group (its copies have distance 0) or, when nothing else is close to it, is an exact
  group only. A near group lists every file of its component, exact copies included.

Components are transitive: A~B and B~C put A, B, C in one group even when A and C are further apart. That is
what splitting needs (all of them must share a split) and it is why the default distance is kept small.

Each group is classified as ``across-classes`` (a label conflict: the same picture under two labels), else
``across-splits`` (leakage between given splits), else ``within-class``; both flags are kept as well.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

if TYPE_CHECKING:
    from medclass.data.scan import FileInfo

# Hamming distance (of 64 phash bits) up to which two different files count as near-duplicates.
# Measured on brain_tumor_mri_4class/Training (5501 distinct contents; imagehash.phash of the decoded
# grayscale image; phash sets exactly 32 of 64 bits, so distances are even):
# - Recall: 300 random images of both shared sets re-encoded or resized: JPEG q90/q50, 0.5x and 2x resize,
#   stretch to 512x512, 0.5x + JPEG q75 stay within 2 for >= 99.3% (max 4); JPEG q20 95% within 2;
#   contrast x1.3 84% within 2, 96% within 4. Crops are not caught (a 3% border crop: median 8).
# - Precision: share of pairs whose 64x64 thumbnails correlate with r >= 0.95 (the same picture after
#   re-encoding, resizing or a contrast change): d=0 99% (729 pairs), d=2 88% (1109), d=4 63% (1285),
#   d=6 32% (1839), d=8 10% (3861). Looking at samples: d <= 2 pairs are the same slice re-processed (the two
#   largest components at 2, 15 and 13 files, are one notumor slice each); from d=4 on many pairs are
#   neighbouring slices of one scan or different patients with similar anatomy; all 32 cross-class pairs at
#   d <= 4 are different images (2 of them at d=2).
# - Chaining: largest component 15 files at d=2, 18 at 4, 100 at 6, 1789 at 8 (one giant component).
# Near groups on that set: 268 at d=0, 427 at d=2, 717 at d=4 (155 exact groups).
DEFAULT_NEAR_DUP_DISTANCE = 2

Kind = Literal["exact", "near"]
Relation = Literal["within-class", "across-classes", "across-splits"]
RELATIONS: tuple[Relation, ...] = ("within-class", "across-classes", "across-splits")

# Rows of the pairwise XOR block are chosen so that one block holds about this many 64-bit distances.
_BLOCK_ELEMENTS = 4_000_000
_POPCOUNT_TABLE = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


@dataclass
class DuplicateGroup:
    """One group of exact or near-duplicate files (paths sorted), with their labels and splits."""

    kind: Kind
    paths: list[str]
    labels: list[str]
    splits: list[str | None]
    relation: Relation
    label_conflict: bool = False
    split_leak: bool = False

    @property
    def extra_copies(self) -> int:
        """Files beyond the first: what a clean data set would not contain."""
        return len(self.paths) - 1


@dataclass
class DuplicateReport:
    """All duplicate groups of a data set and the near-duplicate distance used."""

    exact: list[DuplicateGroup] = field(default_factory=list)
    near: list[DuplicateGroup] = field(default_factory=list)
    near_distance: int = DEFAULT_NEAR_DUP_DISTANCE

    def group_ids(self) -> dict[str, str]:
        """``path -> component id`` for every path in an exact or near group (the union of both).

        Files linked through any chain of exact and near groups share one id, so a splitter that keeps
        each id in one split keeps every duplicate with its copies.
        """
        parent: dict[str, str] = {}

        def find(x: str) -> str:
            root = x
            while parent[root] != root:
                root = parent[root]
            while parent[x] != root:
                parent[x], x = root, parent[x]
            return root

        for group in [*self.exact, *self.near]:
            for path in group.paths:
                parent.setdefault(path, path)
            first = find(group.paths[0])
            for path in group.paths[1:]:
                other = find(path)
                if other != first:
                    parent[other] = first
        roots = sorted({find(p) for p in parent})
        ids = {root: f"dup{i:04d}" for i, root in enumerate(roots)}
        return {path: ids[find(path)] for path in parent}

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary: counts per kind (groups, files, extra copies, per relation) and the groups."""

        def summary(groups: list[DuplicateGroup]) -> dict[str, Any]:
            relations = Counter(g.relation for g in groups)
            return {
                "groups": len(groups),
                "files": sum(len(g.paths) for g in groups),
                "extra_copies": sum(g.extra_copies for g in groups),
                "by_relation": {
                    r: relations.get(r, 0) for r in ("within-class", "across-classes", "across-splits")
                },
                "label_conflicts": sum(g.label_conflict for g in groups),
                "split_leaks": sum(g.split_leak for g in groups),
            }

        return {
            "near_distance": self.near_distance,
            "exact": {**summary(self.exact), "list": [asdict(g) for g in self.exact]},
            "near": {**summary(self.near), "list": [asdict(g) for g in self.near]},
        }


def popcount64(values: np.ndarray) -> np.ndarray:
    """Number of set bits of each ``uint64`` (``np.bitwise_count`` when NumPy has it, else a byte table)."""
    values = np.ascontiguousarray(values, dtype=np.uint64)
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(values)
    as_bytes = values.view(np.uint8).reshape(*values.shape, 8)
    return _POPCOUNT_TABLE[as_bytes].sum(axis=-1, dtype=np.uint8)


def hash_components(hashes: Sequence[int] | np.ndarray, max_distance: int) -> np.ndarray:
    """Connected components of 64-bit hashes joined when their Hamming distance is ``<= max_distance``.

    Equal hashes are merged first. The distinct ones are not compared all against all: by the pigeonhole
    principle two hashes within ``d`` bits agree exactly on at least one of ``d + 1`` disjoint bit chunks
    (multi-index hashing, Norouzi et al., CVPR 2012), so only hashes that share a chunk value are compared.
    For random-looking hashes that is about linear in their number instead of quadratic (BENCHMARKS.md,
    "Scale"). Chunks narrower than 8 bits select too little, so large distances compare all pairs. Pairs are
    compared in row blocks (XOR + popcount) and edges are folded into the component labels as they come, so
    memory stays bounded whatever the threshold.

    Args:
        hashes: one unsigned 64-bit hash per item.
        max_distance: largest Hamming distance that joins two items.

    Returns:
        ``int`` array of component labels, one per item (labels are ``0..k-1``).

    Example:
        >>> hash_components([0b0, 0b11, 0b1111_0000], 2).tolist()
        [0, 0, 1]
    """
    hashes = np.asarray([int(h) for h in hashes], dtype=np.uint64)
    if hashes.size == 0:
        return np.zeros(0, dtype=np.int64)
    unique, inverse = np.unique(hashes, return_inverse=True)
    components = _Components(unique.size)
    for members in _candidate_groups(unique, max_distance):
        values = unique[members]
        rows = max(1, _BLOCK_ELEMENTS // members.size)
        for start in range(0, members.size, rows):
            block = popcount64(values[start : start + rows, None] ^ values[None, :])
            ii, jj = np.nonzero(block <= max_distance)
            ii += start
            keep = jj > ii
            components.add(members[ii[keep]], members[jj[keep]])
    _, labels = np.unique(components.labels(), return_inverse=True)
    return labels[inverse.ravel()]


def _candidate_groups(unique: np.ndarray, max_distance: int) -> Iterator[np.ndarray]:
    """Index groups that hold every pair within ``max_distance`` (pairs may repeat across groups)."""
    chunks = max_distance + 1
    if 64 // chunks < 8:
        yield np.arange(unique.size)
        return
    bounds = np.linspace(0, 64, chunks + 1).astype(int)
    for low, high in itertools.pairwise(bounds):
        keys = (unique >> np.uint64(low)) & np.uint64((1 << int(high - low)) - 1)
        order = np.argsort(keys, kind="stable")
        cuts = np.flatnonzero(np.diff(keys[order])) + 1
        starts, ends = np.r_[0, cuts], np.r_[cuts, order.size]
        for first, last in zip(starts[ends - starts > 1], ends[ends - starts > 1], strict=True):
            yield order[first:last]


class _Components:
    """Union of edges over ``n`` nodes, folded into component labels every ``_BLOCK_ELEMENTS`` edges."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._labels = np.arange(n)  # each node's component, named by its smallest member
        self._src: list[np.ndarray] = []
        self._dst: list[np.ndarray] = []
        self._pending = 0

    def add(self, src: np.ndarray, dst: np.ndarray) -> None:
        if src.size:
            self._src.append(src)
            self._dst.append(dst)
            self._pending += src.size
            if self._pending >= _BLOCK_ELEMENTS:
                self._fold()

    def _fold(self) -> None:
        n = self.n
        # The new edges plus each node's link to its component's smallest member keep earlier merges.
        src = np.concatenate([*self._src, np.arange(n)])
        dst = np.concatenate([*self._dst, self._labels])
        graph = coo_matrix((np.ones(src.size, dtype=np.int8), (src, dst)), shape=(n, n))
        count, component = connected_components(graph, directed=False)
        smallest = np.full(count, n)
        np.minimum.at(smallest, component, np.arange(n))
        self._labels = smallest[component]
        self._src, self._dst, self._pending = [], [], 0

    def labels(self) -> np.ndarray:
        if self._pending:
            self._fold()
        return self._labels


def find_duplicates(
    infos: Sequence[FileInfo],
    labels: Mapping[str, str],
    splits: Mapping[str, str | None] | None = None,
    near_distance: int | None = None,
) -> DuplicateReport:
    """Group exact copies (same md5) and near-duplicates (phash distance ``<= near_distance``).

    Args:
        infos: scan results (``medclass.data.scan.scan_files``).
        labels: ``path -> class`` for every path of ``infos``.
        splits: ``path -> split`` (``None``: no split given); ``None`` for data without splits.
        near_distance: Hamming distance for near-duplicates; ``None``: :data:`DEFAULT_NEAR_DUP_DISTANCE`.

    Returns:
        A :class:`DuplicateReport` with groups sorted by their first path.

    Raises:
        KeyError: a path of ``infos`` has no label.
    """
    distance = DEFAULT_NEAR_DUP_DISTANCE if near_distance is None else int(near_distance)
    if not 0 <= distance <= 64:
        raise ValueError(f"near_distance = {distance}: must be between 0 and 64")
    splits = splits or {}

    by_md5: dict[str, list[str]] = defaultdict(list)
    for info in infos:
        if info.md5:
            by_md5[info.md5].append(info.path)
    exact = [_group("exact", paths, labels, splits) for paths in by_md5.values() if len(paths) > 1]

    hashed = [info for info in infos if info.readable and info.phash is not None]
    components: dict[int, list[FileInfo]] = defaultdict(list)
    for info, label in zip(hashed, hash_components([i.phash for i in hashed], distance), strict=True):
        components[int(label)].append(info)
    near = [
        _group("near", [i.path for i in members], labels, splits)
        for members in components.values()
        if len({i.md5 for i in members}) > 1
    ]
    return DuplicateReport(
        exact=sorted(exact, key=lambda g: g.paths[0]),
        near=sorted(near, key=lambda g: g.paths[0]),
        near_distance=distance,
    )


def _group(
    kind: Kind, paths: list[str], labels: Mapping[str, str], splits: Mapping[str, str | None]
) -> DuplicateGroup:
    paths = sorted(paths)
    group_labels = [labels[p] for p in paths]
    group_splits = [splits.get(p) for p in paths]
    label_conflict = len(set(group_labels)) > 1
    split_leak = len({s for s in group_splits if s is not None}) > 1
    relation: Relation = (
        "across-classes" if label_conflict else "across-splits" if split_leak else "within-class"
    )
    return DuplicateGroup(kind, paths, group_labels, group_splits, relation, label_conflict, split_leak)
