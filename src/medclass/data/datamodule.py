"""Datasets, samplers and the LightningDataModule that feed cached, preprocessed images to training.

Augmentation randomness is a pure function of ``(seed, epoch, sample)``: the training sampler yields
``(epoch, index)`` pairs and the dataset seeds the transform from them. A run therefore augments the same way
whatever the number of loader workers, and a resumed run continues exactly where an uninterrupted one would.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from medclass.config.schema import AugmentConfig, DataConfig
from medclass.data.cache import ImageCache, channel_stats
from medclass.data.multilabel import label_matrix
from medclass.transforms.pipelines import IMAGENET_MEAN, IMAGENET_STD, EvalTransform, TrainTransform
from medclass.transforms.tensor import to_chw_tensor
from medclass.utils.errors import ConfigError, DataError

SampleKey = int | tuple[int, int]


def _mix_seed(*parts: int) -> int:
    """Combine integers into one 63-bit seed (SplitMix64-style), so nearby inputs give unrelated seeds."""
    value = 0x9E3779B97F4A7C15
    for part in parts:
        value = (value ^ (int(part) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        value ^= value >> 31
    return value & 0x7FFFFFFFFFFFFFFF


class CachedImageDataset(Dataset):
    """Items of an :class:`ImageCache` as ``(tensor, class index)``, or ``(tensor, (K,) float targets)`` for
    multi-label targets (1, 0, NaN for an uncertain label).

    Args:
        arrays: ``N x H x W x C`` uint8 images: an :class:`ImageCache` (which reopens its memory-mapped file in
            each loader worker instead of pickling the pixels) or an array.
        rows: cache row of each item.
        targets: class index of each item, or an ``(N, K)`` array of per-label values.
        transform: maps a uint8 ``C x H x W`` tensor to the model input.
        seed: base seed for augmentation; used when an item is requested as ``(epoch, index)``.
    """

    def __init__(
        self,
        arrays: ImageCache | np.ndarray,
        rows: Sequence[int],
        targets: Sequence[int],
        transform: Callable[[torch.Tensor], torch.Tensor],
        seed: int = 0,
    ) -> None:
        self.arrays = arrays
        self.rows = np.asarray(rows, dtype=np.int64)
        targets = np.asarray(targets)
        self.targets = targets.astype(np.float32 if targets.ndim == 2 else np.int64)
        self.transform = transform
        self.seed = seed

    def __len__(self) -> int:
        return len(self.rows)

    def image(self, index: int) -> torch.Tensor:
        """The cached uint8 ``C x H x W`` tensor of item ``index`` (no transform)."""
        return to_chw_tensor(self.arrays[self.rows[index]])

    def __getitem__(self, key: SampleKey) -> tuple[torch.Tensor, int | torch.Tensor]:
        if isinstance(key, tuple):
            epoch, index = key
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(_mix_seed(self.seed, epoch, index))
                image = self.transform(self.image(index))
        else:
            index = key
            image = self.transform(self.image(index))
        if self.targets.ndim == 2:
            return image, torch.from_numpy(self.targets[index])
        return image, int(self.targets[index])


class EpochSampler(Sampler[tuple[int, int]]):
    """Yields ``(epoch, index)``: a seeded permutation per epoch, or weighted draws with replacement.

    Lightning calls :meth:`set_epoch` before each epoch; the permutation depends only on the seed and epoch.
    In a run of ``world_size`` processes, process ``rank`` takes every ``world_size``-th item of that one
    sequence (padded with its first items to a multiple of ``world_size``, so that every process runs the
    same number of steps, as DDP requires). Global batch ``k`` (the union over processes) is then the items
    ``k * B * world_size ...`` of the sequence, the batch of a single process with batch size
    ``B * world_size``.
    """

    def __init__(
        self,
        size: int,
        seed: int,
        weights: Sequence[float] | None = None,
        num_samples: int | None = None,
        epoch: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.size = size
        self.seed = seed
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.double)
        self.num_samples = num_samples or size
        self.epoch = epoch
        self.rank, self.world_size = rank, world_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _total(self) -> int:
        return self.num_samples if self.weights is not None else self.size

    def __len__(self) -> int:
        return -(-self._total() // self.world_size)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        generator = torch.Generator().manual_seed(_mix_seed(self.seed, self.epoch, 0x5A))
        if self.weights is None:
            order = torch.randperm(self.size, generator=generator)
        else:
            order = torch.multinomial(self.weights, self.num_samples, replacement=True, generator=generator)
        if self.world_size > 1:
            padded = len(self) * self.world_size
            order = torch.cat([order, order[: padded - len(order)]])[self.rank :: self.world_size]
        epoch = self.epoch
        return iter([(epoch, int(i)) for i in order])


class ShardSampler(Sampler[int]):
    """Process ``rank``'s share of an evaluation split: every ``world_size``-th image, in order, no padding
    (each image is scored once; the metrics gather the shares)."""

    def __init__(self, size: int, rank: int = 0, world_size: int = 1) -> None:
        self.size, self.rank, self.world_size = size, rank, world_size

    def __len__(self) -> int:
        return len(range(self.rank, self.size, self.world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.size, self.world_size))


def default_num_workers(configured: int | str) -> int:
    """Loader worker processes: the configured number, or for ``auto`` one per spare CPU core (up to 8) on a
    GPU machine and a single worker on a CPU-only one.

    Even on two cores one worker pays: torch runs small per-image ops (an affine warp of a 128 px image) with
    every intra-op thread, and when the model's threads hold the cores that costs ~40x (measured: 48 ms vs
    1.1 ms per RandomAffine); a worker process uses one thread and keeps augmentation off the model's path.
    """
    if configured != "auto":
        return int(configured)
    cpus = os.cpu_count() or 1
    if torch.cuda.is_available():
        return min(8, max(1, cpus - 1))
    return 1 if cpus > 1 else 0


def normalization_stats(
    mode: str, channels: int, cache: ImageCache, train_rows: Sequence[int]
) -> tuple[list[float], list[float]]:
    """Per-channel mean/std for ``data.normalize``: the training split's, ImageNet's, or identity.

    ``auto`` is the training split's here: a run that loads pretrained weights passes their statistics to
    :class:`MedDataModule` instead (``PretrainedWeights.stats``).
    """
    if mode in ("dataset", "auto"):
        return channel_stats(cache, train_rows)
    if mode == "imagenet":
        if channels == 1:  # one grey channel: the average of the RGB statistics
            return [float(np.mean(IMAGENET_MEAN))], [float(np.mean(IMAGENET_STD))]
        return list(IMAGENET_MEAN), list(IMAGENET_STD)
    return [0.0] * channels, [1.0] * channels


class MedDataModule(L.LightningDataModule):
    """Train/val/test loaders over an :class:`ImageCache` and a splits table (``path,label,split``).

    Args:
        cache: preprocessed images; every path of ``table`` must be a readable entry of it.
        table: one row per image with ``path``, ``label`` and ``split`` in {train, val, test}.
        classes: class names; a label's index in this list is its target.
        data: batch size, workers, sampler and normalisation settings.
        augment: training augmentation.
        seed: seed of shuffling and augmentation.
        mean, std: normalisation statistics; computed from the training split when omitted.
        multilabel: ``classes`` are label names and each target is the ``(K,)`` row of
            :func:`medclass.data.multilabel.label_matrix` of the ``label`` text.
    """

    def __init__(
        self,
        cache: ImageCache,
        table: pd.DataFrame,
        classes: Sequence[str],
        data: DataConfig,
        augment: AugmentConfig,
        seed: int,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        multilabel: bool = False,
    ) -> None:
        super().__init__()
        self.multilabel = multilabel
        self.cache = cache
        self.classes = list(classes)
        self.data = data
        self.augment = augment
        self.seed = seed
        self.rows: dict[str, np.ndarray] = {}
        self.targets: dict[str, np.ndarray] = {}
        class_index = {name: i for i, name in enumerate(self.classes)}
        for split in ("train", "val", "test"):
            part = table[table["split"] == split]
            if multilabel:
                self.rows[split] = np.array([cache.index_of(p) for p in part["path"]], dtype=np.int64)
                self.targets[split] = label_matrix(list(part["label"]), self.classes, "splits table")
                continue
            unknown = sorted(set(part["label"]) - set(class_index))
            if unknown:
                raise DataError(f"splits table: labels {unknown} are not among the classes {self.classes}")
            self.rows[split] = np.array([cache.index_of(p) for p in part["path"]], dtype=np.int64)
            self.targets[split] = part["label"].map(class_index).to_numpy(dtype=np.int64)
        if len(self.rows["train"]) == 0:
            raise DataError("the training split is empty: check the split fractions or the splits file")
        if mean is None or std is None:
            mean, std = normalization_stats(data.normalize, data.channels, cache, self.rows["train"])
        self.mean, self.std = list(mean), list(std)
        self.num_workers = default_num_workers(data.num_workers)
        self._resume_epoch: int | None = None

    def class_counts(self, split: str = "train") -> np.ndarray:
        """Number of images per class in a split (multi-label: positive images per label)."""
        if self.multilabel:
            return np.nansum(self.targets[split], axis=0).astype(np.int64)
        return np.bincount(self.targets[split], minlength=len(self.classes))

    def dataset(self, split: str, train_transform: bool = False) -> CachedImageDataset:
        """The dataset of a split, with the training or the eval transform."""
        transform = (
            TrainTransform(self.augment, self.data.image_size, self.mean, self.std)
            if train_transform
            else EvalTransform(self.mean, self.std)
        )
        return CachedImageDataset(
            self.cache.arrays, self.rows[split], self.targets[split], transform, self.seed
        )

    def _loader(self, dataset: Dataset, sampler: Sampler | None = None) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.data.batch_size,
            sampler=sampler,
            shuffle=False,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def train_dataloader(self) -> DataLoader:
        counts = self.class_counts("train")
        weights = None
        if self.data.sampler == "weighted" and self.multilabel:
            raise ConfigError(
                "data.sampler = 'weighted' draws by class; for multi-label data use loss.pos_weight"
            )
        if self.data.sampler == "weighted":  # inverse class frequency: every class drawn equally often
            weights = (1.0 / np.maximum(counts, 1))[self.targets["train"]]
        epoch = self._resume_epoch if self._resume_epoch is not None else self._current_epoch()
        sampler = EpochSampler(
            len(self.rows["train"]),
            self.seed,
            weights=weights,
            num_samples=self.data.epoch_size,
            epoch=epoch,
            **self._shard(),
        )
        return self._loader(self.dataset("train", train_transform=True), sampler)

    def _shard(self) -> dict[str, int]:
        """This process's rank and the number of processes (the Trainer's; 0 of 1 without one)."""
        if self.trainer is None:
            return {"rank": 0, "world_size": 1}
        return {"rank": self.trainer.global_rank, "world_size": self.trainer.world_size}

    def _eval_loader(self, split: str) -> DataLoader:
        dataset = self.dataset(split)
        return self._loader(dataset, ShardSampler(len(dataset), **self._shard()))

    def stats_dataloader(self, max_images: int | None = None) -> DataLoader:
        """Training images with the eval transform (for recomputing BatchNorm statistics): all of them in
        order, or ``max_images`` of them drawn once at random (seeded) when the split is larger."""
        dataset = self.dataset("train")
        if max_images is not None and max_images < len(dataset):
            chosen = np.random.default_rng(_mix_seed(self.seed, 0xB17)).permutation(len(dataset))[:max_images]
            dataset.rows, dataset.targets = dataset.rows[chosen], dataset.targets[chosen]
        return self._loader(dataset)

    def _current_epoch(self) -> int:
        return self.trainer.current_epoch if self.trainer is not None else 0

    def state_dict(self) -> dict[str, int]:
        """Saved in checkpoints (written at epoch ends): the epoch a resumed run starts with.

        Lightning builds the training loader of a resumed run before it restores the epoch counter, and loader
        workers draw the first batches' indices at once; without this the first resumed epoch would be
        shuffled and augmented as epoch 0.
        """
        return {"next_epoch": self._current_epoch() + 1}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self._resume_epoch = int(state_dict["next_epoch"])

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")
