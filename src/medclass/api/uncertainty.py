"""Uncertainty of predictions: MC dropout and TTA over image files, and the accuracy-vs-referral evaluation.

Used by ``medclass predict --mc-dropout N --tta N --flag-uncertain ENTROPY`` and ``medclass evaluate
--mc-dropout N``. The pure parts (entropy, summaries, referral curve) live in ``medclass.explain.uncertainty``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from torch import nn
from torch.utils.data import DataLoader

from medclass.api.evaluate import labelled_files, run_dir_of
from medclass.api.inference import eval_transform, preprocess_settings
from medclass.config.schema import AugmentConfig
from medclass.data.cache import build_cache
from medclass.data.datamodule import CachedImageDataset
from medclass.evaluation.predictions import inference_device, softmax
from medclass.explain.uncertainty import (
    dropout_active,
    dropout_layers,
    referral_curve,
    referral_point,
    stacked_logits,
    summarize_passes,
)
from medclass.training.checkpoint import CheckpointMeta, load_for_inference, resolve_checkpoint
from medclass.transforms.presets import TrainPreset, eval_safe_augment
from medclass.utils.console import default_console
from medclass.utils.errors import ConfigError, RunDirError

REFERRAL_FILE = "referral.csv"


@dataclass
class UncertainInference:
    """Predictions of several stochastic passes for the readable files among the inputs.

    Attributes:
        paths: readable files, in input order.
        probs: ``(N, K)`` mean probability over the passes.
        predicted: ``(N,)`` predicted class index (argmax, or the checkpoint's binary threshold).
        entropy: ``(N,)`` predictive entropy of ``probs`` (nats).
        std: ``(N,)`` standard deviation of the predicted class's probability over the passes.
        passes: number of passes (MC-dropout passes times TTA passes).
        dropout_layers: dropout modules switched on (0 without MC dropout, or a model without dropout).
        failures: unreadable file -> reason.
    """

    paths: list[str]
    probs: np.ndarray
    predicted: np.ndarray
    entropy: np.ndarray
    std: np.ndarray
    passes: int
    dropout_layers: int
    failures: dict[str, str]


def tta_augment(meta: CheckpointMeta) -> AugmentConfig:
    """The eval-safe part (flips, shifts of at most 5%) of the checkpoint's training augmentation.

    A checkpoint without a config gets the eval-safe part of the default (standard) preset.
    """
    augment = meta.config.get("augment") if meta.config else None
    return eval_safe_augment(AugmentConfig.model_validate(augment or {}))


def uncertain_inference(
    model: nn.Module,
    meta: CheckpointMeta,
    paths: Sequence[str],
    mc_dropout: int = 0,
    tta: int = 0,
    batch_size: int = 64,
    seed: int = 0,
    cache_dir: str | None = None,
) -> UncertainInference:
    """Run ``model`` over ``paths`` with MC dropout and/or TTA, preprocessing exactly as in training.

    Pass ``(t, m)`` uses TTA view ``t`` (view 0: the image itself, then random flips/shifts from
    :func:`tta_augment`, seeded per view and image) and MC-dropout draw ``m``; ``max(tta, 1) * max(mc_dropout,
    1)`` passes in all. With ``tta=1`` and no MC dropout the result equals plain prediction exactly.

    Raises:
        ConfigError: a negative pass count.
    """
    if mc_dropout < 0 or tta < 0:
        raise ConfigError(f"--mc-dropout {mc_dropout} / --tta {tta}: pass counts must be >= 0")
    settings = preprocess_settings(meta)
    cache = build_cache(list(paths), settings, cache_dir=cache_dir)
    rows = [i for i in range(len(cache.paths)) if cache.readable[i]]
    zeros = np.zeros(len(rows), dtype=np.int64)
    plain = CachedImageDataset(cache.arrays, rows, zeros, eval_transform(meta))
    mean, std = meta.preprocess["mean"], meta.preprocess["std"]
    augmented = CachedImageDataset(
        cache.arrays, rows, zeros, TrainPreset(tta_augment(meta), settings.image_size, mean, std), seed=seed
    )
    draws, views = max(mc_dropout, 1), max(tta, 1)

    def batches_of_pass(p: int) -> DataLoader:
        view = p // draws
        if view == 0:
            return DataLoader(plain, batch_size=batch_size)
        # (view, index) keys seed each augmentation by view and image, whatever the batch size.
        return DataLoader(augmented, batch_size=batch_size, sampler=[(view, i) for i in range(len(rows))])

    model = model.to(inference_device()).eval()
    switched = dropout_active(model) if mc_dropout > 0 else contextlib.nullcontext([])
    with switched as layers:
        if rows:
            logits = stacked_logits(model, batches_of_pass, draws * views, seed=seed)
        else:
            logits = np.zeros((draws * views, 0, len(meta.classes)), dtype=np.float32)
    pass_probs = np.stack([softmax(run, meta.temperature) for run in logits])
    summary = summarize_passes(pass_probs, meta.threshold)
    return UncertainInference(
        paths=[cache.paths[i] for i in rows],
        probs=summary.probs,
        predicted=summary.predicted,
        entropy=summary.entropy,
        std=summary.std,
        passes=draws * views,
        dropout_layers=len(layers),
        failures=dict(cache.reasons),
    )


def referral_evaluation(
    source: str | Path,
    data: str | Path | None = None,
    split: str = "test",
    passes: int = 20,
    fractions: Sequence[float] = (0.1, 0.2),
    epoch: int | None = None,
    out: str | Path | None = None,
    batch_size: int = 64,
    seed: int = 0,
    console: Console | None = None,
) -> dict[str, Any]:
    """Evaluate with MC dropout and measure accuracy when the most uncertain cases are referred to a human.

    Cases are ranked by predictive entropy of the MC-dropout mean; referring the top ``k`` leaves the
    accuracy of the other ``N - k``. The full curve (``k = 0 .. N-1``) is written to ``RUN_DIR/referral.csv``
    (columns ``n_referred, fraction_referred, n_kept, accuracy, uncertainty_cutoff``).

    Args:
        source: run folder or checkpoint.
        data: a labelled data set instead of the run's ``split``.
        split: split of the run to evaluate.
        passes: MC-dropout passes (>= 1).
        fractions: referral fractions to report besides 0.
        epoch: use this epoch's checkpoint of the run.
        out: CSV path for the curve (default ``RUN_DIR/referral.csv``; next to a loose checkpoint).
        batch_size: images per pass.
        seed: seed of the dropout masks.
        console: where a note goes when the model has no dropout layer.

    Returns:
        ``{"passes", "n", "dropout_layers", "checkpoint", "split", "data", "csv", "mean_entropy",
        "points": [{"fraction", "n_referred", "n_kept", "accuracy", "uncertainty_cutoff"}, ...]}`` with a point
        for 0 and each of ``fractions``, and ``"accuracy": {"0": a0, "0.1": a10, ...}``.

    Raises:
        ConfigError: ``passes < 1`` or a fraction outside [0, 1).
    """
    if passes < 1:
        raise ConfigError(f"--mc-dropout {passes}: needs at least 1 pass")
    bad = [f for f in fractions if not 0 <= f < 1]
    if bad:
        raise ConfigError(f"referral fraction {bad[0]}: must be in [0, 1)")
    console = console or default_console()
    checkpoint = resolve_checkpoint(source, epoch)
    model, meta = load_for_inference(checkpoint)
    paths, labels = labelled_files(source, meta, data, split)
    result = uncertain_inference(model, meta, paths, mc_dropout=passes, batch_size=batch_size, seed=seed)
    if result.dropout_layers == 0 or not dropout_layers(model):
        console.print("[yellow]note:[/] the model has no dropout layer: every MC-dropout pass is identical")
    label_of = dict(zip(paths, labels, strict=True))
    y_true = np.array([meta.classes.index(label_of[p]) for p in result.paths], dtype=np.int64)
    curve = referral_curve(result.predicted == y_true, result.entropy)
    if out is None:
        try:
            folder = run_dir_of(source)
        except RunDirError:
            folder = checkpoint.parent
        out = folder / REFERRAL_FILE
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    curve.to_csv(out, index=False, float_format="%.6f")
    points = [referral_point(curve, fraction) for fraction in (0.0, *fractions)]
    return {
        "passes": passes,
        "n": len(result.paths),
        "dropout_layers": result.dropout_layers,
        "checkpoint": str(checkpoint),
        "split": split if data is None else None,
        "data": str(data) if data is not None else None,
        "csv": str(out),
        "mean_entropy": float(result.entropy.mean()) if len(result.entropy) else float("nan"),
        "points": points,
        "accuracy": {f"{p['fraction']:g}": p["accuracy"] for p in points},
    }
