"""From what a user gives (files, folders, a run's split, a labelled folder) to model-sized pixels, preprocessed
exactly as in training: the checkpoint's preprocessing through the array cache, and its normalisation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from medclass.data.cache import ImageCache, build_cache
from medclass.data.discovery import discover
from medclass.data.files import require_regular_file
from medclass.data.multilabel import LabelOptions
from medclass.data.npz import is_npz_file, load_npz, member_path, parse_member
from medclass.data.readers import ImageTooLarge, UnreadableImage, image_info, is_image_file
from medclass.data.splits import read_splits
from medclass.inference.bundle import is_bundle, read_bundle_info
from medclass.inference.spec import ModelSpec
from medclass.runs import SPLITS_FILE, run_dir_of, training_view
from medclass.transforms.pipelines import EvalTransform
from medclass.transforms.tensor import to_chw_tensor
from medclass.utils.errors import DataError
from medclass.utils.io import natural_key


def eval_transform(meta: ModelSpec) -> EvalTransform:
    """The deterministic eval transform with the training split's normalisation."""
    return EvalTransform(meta.preprocess.mean, meta.preprocess.std)


@dataclass
class CachedImages:
    """Readable images of a request: rows of a preprocessed-array cache, in input order.

    Attributes:
        cache: the cache holding the model-sized uint8 ``H x W x C`` pixels.
        rows: the cache row of each readable image.
        failures: unreadable file -> reason.
    """

    cache: ImageCache
    rows: list[int]
    failures: dict[str, str]

    @property
    def paths(self) -> list[str]:
        return [self.cache.paths[i] for i in self.rows]

    def pixels(self, index: int) -> np.ndarray:
        """The uint8 ``H x W x C`` pixels of the ``index``-th readable image (what the model sees)."""
        return np.asarray(self.cache.arrays[self.rows[index]])

    def tensor(self, indices: Sequence[int], meta: ModelSpec) -> torch.Tensor:
        """The normalised model inputs ``(n, C, H, W)`` of the readable images at ``indices``."""
        transform = eval_transform(meta)
        return torch.stack([transform(to_chw_tensor(self.pixels(i))) for i in indices])


def load_images(paths: Sequence[str], meta: ModelSpec, cache_dir: str | None = None) -> CachedImages:
    """Preprocess ``paths`` as the checkpoint's training did (cached by content), keeping failures apart."""
    cache = build_cache(list(paths), meta.preprocess.settings, cache_dir=cache_dir)
    rows = [i for i in range(len(cache.paths)) if cache.readable[i]]
    return CachedImages(cache=cache, rows=rows, failures=dict(cache.reasons))


def collect_files(inputs: Sequence[str | Path]) -> list[str]:
    """Files given directly, plus every image file found recursively in given folders (hidden ones skipped).

    Raises:
        DataError: an input does not exist, is not a regular file, declares an image over the readers' size
            limit (a file given directly; one found in a folder becomes an unreadable row), or no image file
            is found.
    """
    files: list[str] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = [
                p
                for p in item.rglob("*")
                if not p.is_dir()  # FIFOs, devices, broken links: reported as unreadable rows
                and is_image_file(p)
                and not any(part.startswith(".") for part in p.relative_to(item).parts)
            ]
            files += sorted((str(p) for p in found), key=natural_key)
        elif is_npz_file(item) and item.is_file():  # every image of a MedMNIST-style file, split by split
            data = load_npz(item)
            files += [
                str(member_path(item, s, i)) for s, images in data.images.items() for i in range(len(images))
            ]
        elif parse_member(item) is not None:
            files.append(str(require_regular_file(item, "image in a .npz file")))
        elif item.exists() or item.is_symlink():
            files.append(str(_within_size_limit(require_regular_file(item, "image file"))))
        else:
            raise DataError(f"{item}: no such file or folder")
    if not files:
        raise DataError(f"no image files found in {', '.join(map(str, inputs))}")
    return files


def _within_size_limit(path: Path) -> Path:
    """A file given directly whose header declares too large an image is refused like a FIFO; any other problem
    is the reader's to report (an unreadable row)."""
    try:
        image_info(path)
    except ImageTooLarge as exc:
        raise DataError(f"{path}: {exc.reason}") from None
    except UnreadableImage:
        pass
    return path


def label_options_of(meta: ModelSpec) -> LabelOptions | None:
    """How a multi-label model's data is read (its labels, its uncertain policy); None for a single-label one."""
    if not meta.is_multilabel:
        return None
    return LabelOptions.of(meta.classes, (meta.config.get("data") or {}).get("uncertain_labels", "ignore"))


def labelled_files(
    source: str | Path, meta: ModelSpec, data: str | Path | None, split: str
) -> tuple[list[str], list[str]]:
    """Paths and labels to evaluate: every image of ``data`` (any layout), or the run's ``split`` rows.

    Raises:
        DataError: ``data`` holds classes the model does not know, or the run has no such split.
        RunDirError: ``source`` is a checkpoint outside a run folder and no ``data`` is given.
    """
    if data is not None:
        index = discover(data, label_options_of(meta))
        unknown = sorted(set(index.classes) - set(meta.classes))
        if unknown:
            raise DataError(
                f"{data}: classes {unknown} are not classes of the model {meta.classes}; "
                "class folder names must match the checkpoint's"
            )
        return [str(s.path) for s in index.samples], [s.label for s in index.samples]
    # A bundle names the run it was exported from, whose split file then gives the rows.
    run_dir = Path(read_bundle_info(source)["source_run"]) if is_bundle(source) else run_dir_of(source)
    # A multi-label row's label is a set of names (checked where it is read as targets), not one class.
    table = read_splits(run_dir / SPLITS_FILE, None if meta.is_multilabel else meta.classes)
    table = training_view(table, meta.config.get("split", {}).get("fold", 0))
    rows = table[table["split"] == split]
    if rows.empty:
        raise DataError(f"{run_dir / SPLITS_FILE}: no rows with split '{split}'")
    return list(rows["path"]), list(rows["label"])


def image_groups(
    source: str | Path, data: str | Path | None, paths: Sequence[str], labels: LabelOptions | None = None
) -> list[str] | None:
    """The group (patient) id of each of ``paths``: the ``group`` column of ``data`` (a CSV manifest) or of
    the run's splits.csv; None when no image has one."""
    if data is None:
        return image_groups_of_table(run_dir_of(source) / SPLITS_FILE, paths)
    group_of = {str(s.path): s.group for s in discover(data, labels).samples}
    groups = [group_of.get(p) or "" for p in paths]
    return groups if any(groups) else None


def image_groups_of_table(splits_file: Path, paths: Sequence[str]) -> list[str] | None:
    """The ``group`` of each of ``paths`` in a splits CSV; None when it has no group column or all are empty."""
    table = read_splits(splits_file)
    if "group" not in table.columns:
        return None
    group_of = dict(zip(table["path"], table["group"], strict=True))
    groups = [group_of.get(p) or "" for p in paths]
    return groups if any(groups) else None
