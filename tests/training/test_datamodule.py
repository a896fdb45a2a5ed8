"""The epoch sampler and the seeded dataset: augmentation depends only on (seed, epoch, sample)."""

from __future__ import annotations

import numpy as np
import torch

from medclass.config.schema import AugmentConfig
from medclass.data.datamodule import CachedImageDataset, EpochSampler
from medclass.transforms.pipelines import TrainTransform


def test_sampler_permutes_each_epoch_reproducibly() -> None:
    sampler = EpochSampler(10, seed=3)
    first = list(sampler)
    assert sorted(i for _, i in first) == list(range(10))
    assert all(epoch == 0 for epoch, _ in first)
    sampler.set_epoch(1)
    second = list(sampler)
    assert [i for _, i in second] != [i for _, i in first]
    sampler.set_epoch(0)
    assert list(sampler) == first
    assert list(EpochSampler(10, seed=3)) == first


def test_weighted_sampler_oversamples_the_rare_class() -> None:
    targets = np.array([0] * 90 + [1] * 10)
    weights = (1.0 / np.bincount(targets))[targets]
    drawn = [i for _, i in EpochSampler(100, seed=0, weights=weights, num_samples=2000)]
    assert len(drawn) == 2000
    share = (targets[drawn] == 1).mean()
    assert 0.4 < share < 0.6


def test_augmentation_is_a_function_of_seed_epoch_and_index() -> None:
    arrays = np.random.default_rng(0).integers(0, 255, (4, 16, 16, 1), dtype=np.uint8)
    preset = TrainTransform(AugmentConfig(preset="strong"), 16, [0.5], [0.25])
    dataset = CachedImageDataset(arrays, [0, 1, 2, 3], [0, 1, 0, 1], preset, seed=5)
    a, _ = dataset[(2, 1)]
    torch.manual_seed(123)  # the global RNG state must not matter
    b, _ = dataset[(2, 1)]
    c, _ = dataset[(3, 1)]
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
