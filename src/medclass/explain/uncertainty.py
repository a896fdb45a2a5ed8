"""How sure a model is: Monte-Carlo dropout, test-time augmentation, predictive entropy and referral curves.

- MC dropout (Gal & Ghahramani 2016): the dropout layers stay active at test time (``train`` mode) while
  everything else, batch-norm included, stays in eval mode; N stochastic passes give N probability vectors.
- TTA: N passes over differently augmented copies of each image (the first pass is the image itself).
- Summary of N passes (:func:`summarize_passes`): the mean probability, the predictive entropy of that mean
  (in nats: 0 for a certain prediction, ``ln K`` for a uniform one) and the standard deviation of the
  predicted class's probability over the passes (0 when every pass agrees exactly).
- Referral (:func:`referral_curve`): refer the most uncertain cases to a human and measure the accuracy on
  the rest, for every number of referred cases.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn.modules.dropout import _DropoutNd

Batches = Iterable[torch.Tensor | tuple[torch.Tensor, ...] | list[torch.Tensor]]


def dropout_layers(model: nn.Module) -> list[nn.Module]:
    """The dropout modules of ``model`` that drop something (``nn.Dropout``, ``Dropout1d/2d/3d`` ...).

    A layer with ``p == 0`` is left out: torchvision and timm models keep a ``Dropout(p=0.0)`` placeholder in
    their heads (the default ResNet-18 here does), and counting it would hide that MC dropout cannot vary.
    """
    return [m for m in model.modules() if isinstance(m, _DropoutNd) and m.p > 0]


@contextlib.contextmanager
def dropout_active(model: nn.Module) -> Iterator[list[nn.Module]]:
    """Put ``model`` in eval mode with only its dropout layers in train mode; restore every mode afterwards.

    Dropout written as a function call in ``forward`` (``F.dropout(x, training=self.training)``, as in some
    timm heads) follows the model's own mode and so stays off: only dropout *modules* are switched on.

    Yields:
        The dropout modules that were switched on (empty: every pass will be identical).
    """
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    layers = dropout_layers(model)
    for layer in layers:
        layer.train(True)
    try:
        yield layers
    finally:
        for module, mode in modes:
            module.training = mode


def _images(batch: torch.Tensor | tuple | list) -> torch.Tensor:
    return batch[0] if isinstance(batch, tuple | list) else batch


@torch.inference_mode()
def stacked_logits(
    model: nn.Module,
    batches_of_pass: Callable[[int], Batches],
    passes: int,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> np.ndarray:
    """Logits of ``passes`` passes, ``(passes, N, K)``; pass p runs over ``batches_of_pass(p)``.

    The model's mode is left as the caller set it (see :func:`dropout_active`). The global RNG is seeded with
    ``seed + p`` before pass p and restored afterwards, so results are repeatable and the caller's random
    state is untouched.
    """
    if passes < 1:
        raise ValueError(f"passes = {passes}: must be >= 1")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    rng_devices = [device.index or 0] if device.type == "cuda" else []
    runs = []
    for p in range(passes):
        with torch.random.fork_rng(devices=rng_devices):
            torch.manual_seed(seed + p)
            outputs = [model(_images(b).to(device)).float().cpu() for b in batches_of_pass(p)]
        runs.append(torch.cat(outputs).numpy() if outputs else np.zeros((0, 0), np.float32))
    return np.stack(runs)


def mc_dropout_predict(
    model: nn.Module, batches: Batches, passes: int, seed: int = 0, device: torch.device | str | None = None
) -> np.ndarray:
    """``(passes, N, K)`` logits of ``passes`` MC-dropout passes over ``batches``.

    ``batches`` is iterated once per pass, so it must be re-iterable (a DataLoader or a list, not a generator).

    Example:
        >>> logits = mc_dropout_predict(model, DataLoader(dataset, batch_size=64), passes=20)
        >>> summary = summarize_passes(softmax_of(logits))
    """
    with dropout_active(model):
        return stacked_logits(model, lambda p: batches, passes, seed, device)


def tta_predict(
    model: nn.Module,
    batches_of_pass: Callable[[int], Batches],
    passes: int,
    device: torch.device | str | None = None,
) -> np.ndarray:
    """``(passes, N, K)`` logits of TTA; pass 0 must be the un-augmented images (the caller builds them).

    The model runs in eval mode; the randomness lives in ``batches_of_pass(p)`` (seed it by pass and image so
    that results do not depend on the batch size).
    """
    model.eval()
    return stacked_logits(model, batches_of_pass, passes, seed=0, device=device)


def predictive_entropy(probs: np.ndarray) -> np.ndarray:
    """Entropy ``-sum p log p`` of each row of ``(N, K)`` probabilities, in nats (``0 log 0 = 0``)."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f"probs must be (N, K), got shape {probs.shape}")
    logs = np.log(np.where(probs > 0, probs, 1.0))
    return np.maximum(-(probs * logs).sum(axis=1), 0.0)


@dataclass
class PassSummary:
    """Summary of N stochastic passes over N images.

    Attributes:
        probs: ``(N, K)`` mean probability over the passes.
        predicted: ``(N,)`` predicted class of the mean (argmax, or the binary threshold).
        entropy: ``(N,)`` predictive entropy of ``probs`` in nats.
        std: ``(N,)`` standard deviation over the passes of the predicted class's probability.
    """

    probs: np.ndarray
    predicted: np.ndarray
    entropy: np.ndarray
    std: np.ndarray


def summarize_passes(pass_probs: np.ndarray, threshold: float | None = None) -> PassSummary:
    """Mean, predicted class, predictive entropy and spread of ``(P, N, K)`` per-pass probabilities.

    The mean and the spread are taken relative to the first pass (``p0 + mean(p - p0)``): mathematically the
    same, and exact when the passes agree, so one pass reproduces the plain prediction bit for bit and
    identical passes have a spread of exactly 0.
    """
    pass_probs = np.asarray(pass_probs, dtype=np.float64)
    if pass_probs.ndim != 3 or pass_probs.shape[0] < 1:
        raise ValueError(f"pass probabilities must be (passes, N, K), got shape {pass_probs.shape}")
    first = pass_probs[0]
    deviation = pass_probs - first
    probs = first + deviation.mean(axis=0)
    if threshold is not None and probs.shape[1] == 2:
        predicted = (probs[:, 1] >= threshold).astype(np.int64)
    else:
        predicted = probs.argmax(axis=1)
    rows = np.arange(probs.shape[0])
    std = deviation[:, rows, predicted].std(axis=0)
    return PassSummary(probs=probs, predicted=predicted, entropy=predictive_entropy(probs), std=std)


def referral_curve(correct: np.ndarray, uncertainty: np.ndarray) -> pd.DataFrame:
    """Accuracy of the cases kept when the ``k`` most uncertain are referred, for ``k = 0 .. N-1``.

    Ties in ``uncertainty`` are broken by input order (stable), so the curve is deterministic.

    Args:
        correct: ``(N,)`` whether each prediction was right.
        uncertainty: ``(N,)`` e.g. predictive entropy; higher is referred first.

    Returns:
        ``n_referred, fraction_referred, n_kept, accuracy, uncertainty_cutoff`` (the uncertainty of the last
        referred case: flagging cases above it refers about that many; NaN when none is referred).
    """
    correct = np.asarray(correct, dtype=bool)
    uncertainty = np.asarray(uncertainty, dtype=np.float64)
    if correct.ndim != 1 or correct.shape != uncertainty.shape or len(correct) == 0:
        raise ValueError(
            f"correct and uncertainty must be equal-length, non-empty 1-D arrays, "
            f"got shapes {correct.shape} and {uncertainty.shape}"
        )
    n = len(correct)
    order = np.argsort(-uncertainty, kind="stable")
    # Right answers among the kept cases when the first k of `order` are referred: total minus referred.
    referred_right = np.concatenate([[0], np.cumsum(correct[order])])[:n]
    n_referred = np.arange(n)
    n_kept = n - n_referred
    cutoff = np.concatenate([[np.nan], uncertainty[order][: n - 1]])
    return pd.DataFrame(
        {
            "n_referred": n_referred,
            "fraction_referred": n_referred / n,
            "n_kept": n_kept,
            "accuracy": (correct.sum() - referred_right) / n_kept,
            "uncertainty_cutoff": cutoff,
        }
    )


def referral_point(curve: pd.DataFrame, fraction: float) -> dict[str, float | int | None]:
    """The row of a :func:`referral_curve` where ``fraction`` of all cases (rounded half up) are referred.

    Returns:
        ``fraction, n_referred, n_kept, accuracy, uncertainty_cutoff`` (None when nothing is referred).

    Raises:
        ValueError: ``fraction`` outside [0, 1).
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"referral fraction {fraction}: must be in [0, 1)")
    n = len(curve)
    k = min(int(np.floor(fraction * n + 0.5)), n - 1)
    row = curve.iloc[k]
    return {
        "fraction": float(fraction),
        "n_referred": int(row["n_referred"]),
        "n_kept": int(row["n_kept"]),
        "accuracy": float(row["accuracy"]),
        "uncertainty_cutoff": None if k == 0 else float(row["uncertainty_cutoff"]),
    }


def accuracy_at_referral(curve: pd.DataFrame, fraction: float) -> float:
    """Accuracy of the kept cases when ``fraction`` of all cases are referred (see :func:`referral_point`)."""
    return float(referral_point(curve, fraction)["accuracy"])
