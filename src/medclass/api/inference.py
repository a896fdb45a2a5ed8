"""Running a trained model on image files with exactly the preprocessing it was trained with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from torch import nn
from torch.utils.data import DataLoader

from medclass.data.cache import build_cache
from medclass.data.datamodule import CachedImageDataset
from medclass.data.preprocess import PreprocessSettings
from medclass.evaluation.predictions import predict_logits, softmax
from medclass.training.checkpoint import CheckpointMeta
from medclass.transforms.presets import EvalPreset


@dataclass
class Inference:
    """Model outputs for the readable files among ``paths``.

    Attributes:
        paths: the readable files, in input order.
        logits: ``(len(paths), K)`` raw outputs.
        probs: softmax of ``logits / temperature``.
        failures: unreadable file -> reason.
    """

    paths: list[str]
    logits: np.ndarray
    probs: np.ndarray
    failures: dict[str, str]


def preprocess_settings(meta: CheckpointMeta) -> PreprocessSettings:
    """The checkpoint's preprocessing (without its normalisation statistics)."""
    fields = {k: v for k, v in meta.preprocess.items() if k not in ("mean", "std")}
    return PreprocessSettings.from_dict(fields)


def eval_transform(meta: CheckpointMeta) -> EvalPreset:
    """The deterministic eval transform with the training split's normalisation."""
    return EvalPreset(meta.preprocess["mean"], meta.preprocess["std"])


def infer_files(
    model: nn.Module,
    meta: CheckpointMeta,
    paths: Sequence[str],
    batch_size: int = 64,
    cache_dir: str | None = None,
) -> Inference:
    """Preprocess ``paths`` as in training (through the cache), run ``model``, and collect failures."""
    cache = build_cache(list(paths), preprocess_settings(meta), cache_dir=cache_dir)
    rows = [i for i, path in enumerate(cache.paths) if cache.readable[i]]
    dataset = CachedImageDataset(
        cache.arrays, rows, np.zeros(len(rows), dtype=np.int64), eval_transform(meta)
    )
    logits = predict_logits(model, DataLoader(dataset, batch_size=batch_size))
    if len(rows) == 0:
        logits = np.zeros((0, len(meta.classes)), dtype=np.float32)
    return Inference(
        paths=[cache.paths[i] for i in rows],
        logits=logits,
        probs=softmax(logits, meta.temperature),
        failures=dict(cache.reasons),
    )
