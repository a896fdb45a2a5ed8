"""The one path from images to decisions: batches through the model, temperature, probabilities, the decision
at the stored threshold (or the argmax), with MC dropout and test-time augmentation as options of the same run.

``evaluate``, ``predict``, ``explain``, the end-of-training test evaluation, export parity and the server all
call :class:`Predictor`; no other module turns model outputs into probabilities or decisions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader

from medclass.config.schema import AugmentConfig
from medclass.data.datamodule import CachedImageDataset
from medclass.data.multilabel import encode
from medclass.inference.bundle import OnnxModule, is_bundle, load_bundle
from medclass.inference.checkpoint import load_for_inference
from medclass.inference.inputs import CachedImages, eval_transform, load_images
from medclass.inference.passes import summarize_label_passes, summarize_passes
from medclass.inference.spec import ModelSpec
from medclass.inference.stochastic import dropout_active, dropout_layers, stacked_logits
from medclass.transforms.pipelines import TrainTransform, eval_safe_augment
from medclass.utils.errors import ConfigError


def inference_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class Predictions:
    """What a model decided for the readable images of a request.

    Attributes:
        paths: the readable files, in input order.
        probs: ``(N, K)`` probabilities after the temperature (the mean over passes when there are several).
        predicted: ``(N,)`` class index at the model's decision rule.
        failures: unreadable file -> reason.
        logits: ``(N, K')`` raw outputs of a single plain pass (None for several passes).
        entropy, std: predictive entropy (nats) and spread of the predicted class's probability over the
            passes (None for a single plain pass); multi-label: the mean over labels of each label's binary
            predictive entropy and of its spread (see :func:`summarize_label_passes`).
        label_std: multi-label, several passes: ``(N, K)`` each label's spread over the passes (else None).
        passes: forward passes per image.
        dropout_layers: dropout modules switched on by MC dropout.
    """

    paths: list[str]
    probs: np.ndarray
    predicted: np.ndarray
    failures: dict[str, str]
    logits: np.ndarray | None = None
    entropy: np.ndarray | None = None
    std: np.ndarray | None = None
    passes: int = 1
    dropout_layers: int = 0
    label_std: np.ndarray | None = None

    def table(self, classes: Sequence[str]) -> pd.DataFrame:
        """``path, prediction, confidence, p_<class>...``: confidence is the probability of the predicted class.

        A multi-label model (``predicted`` is ``(N, K)`` booleans): ``path, prediction`` (the positive labels
        joined by ``|``, empty for none), then per label ``p_<label>`` and ``<label>`` (its decision, 0 or 1).
        """
        if self.predicted.ndim == 2:
            return self._label_table(classes)
        rows = np.arange(len(self.predicted))
        table = pd.DataFrame(
            {
                "path": list(self.paths),
                "prediction": [classes[i] for i in self.predicted],
                "confidence": self.probs[rows, self.predicted] if len(rows) else [],
            }
        )
        for i, name in enumerate(classes):
            table[f"p_{name}"] = self.probs[:, i]
        return table

    def _label_table(self, labels: Sequence[str]) -> pd.DataFrame:
        table = pd.DataFrame(
            {
                "path": list(self.paths),
                "prediction": [encode(row, labels) for row in self.predicted.astype(np.float64)],
            }
        )
        for j, name in enumerate(labels):
            table[f"p_{name}"] = self.probs[:, j]
        for j, name in enumerate(labels):
            table[name] = self.predicted[:, j].astype(np.int64)
        return table


def tta_augment(meta: ModelSpec) -> AugmentConfig:
    """The eval-safe part (flips, shifts of at most 5%) of the checkpoint's training augmentation.

    A checkpoint without a config gets the eval-safe part of the default (standard) preset.
    """
    augment = meta.config.get("augment") if meta.config else None
    return eval_safe_augment(AugmentConfig.model_validate(augment or {}))


class Predictor:
    """A trained model with its description (classes, preprocessing, decision), ready to decide."""

    def __init__(self, model: nn.Module, meta: ModelSpec, device: torch.device | None = None) -> None:
        self.device = device or inference_device()
        self.model = model.to(self.device).eval()
        self.meta = meta

    @classmethod
    def load(cls, source: str | Path, epoch: int | None = None) -> Predictor:
        """The predictor of a checkpoint file, a run folder (its best checkpoint, or ``epoch``'s) or an exported
        bundle folder (run on the CPU with ONNX Runtime or TorchScript, same preprocessing and decision)."""
        if is_bundle(source):
            if epoch is not None:
                raise ConfigError(f"--epoch needs a run folder, not the bundle {source}")
            model, meta = load_bundle(source)
            return cls(model, meta, device=torch.device("cpu"))
        model, meta = load_for_inference(source, epoch)
        return cls(model, meta)

    @property
    def classes(self) -> list[str]:
        return list(self.meta.classes)

    def decide(self, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(probs, predicted)`` of raw outputs at the model's temperature and decision rule (multi-label:
        per-label probabilities and ``(N, K)`` per-label decisions)."""
        if self.meta.multilabel is not None:
            probs = self.meta.multilabel.probabilities(logits)
            return probs, self.meta.multilabel.decide(probs)
        probs = self.meta.decision.probabilities(logits)
        return probs, self.meta.decision.decide(probs)

    @torch.inference_mode()
    @torch.no_grad()  # inference: no autograd graph (explanations take gradients through self.model directly)
    def logits(
        self, batches: Iterable[torch.Tensor | tuple[torch.Tensor, ...] | list[torch.Tensor]]
    ) -> np.ndarray:
        """Raw outputs ``(N, K)`` over ``batches`` (tensors, or tuples whose first item is the input)."""
        outputs = []
        for batch in batches:
            images = batch[0] if isinstance(batch, tuple | list) else batch
            outputs.append(self.model(images.to(self.device)).float().cpu())
        if not outputs:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        return torch.cat(outputs).numpy()

    def predict_tensor(self, inputs: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """``(probs, predicted)`` of a batch of normalised model inputs ``(N, C, H, W)``."""
        return self.decide(self.logits([inputs]))

    def predict_files(
        self,
        paths: Sequence[str],
        batch_size: int = 64,
        mc_dropout: int = 0,
        tta: int = 0,
        seed: int = 0,
        cache_dir: str | None = None,
    ) -> Predictions:
        """Preprocess ``paths`` as in training, run the model and decide; unreadable files become failures.

        See :meth:`predict_cached` for ``mc_dropout``, ``tta`` and ``seed``.
        """
        images = load_images(paths, self.meta, cache_dir=cache_dir)
        return self.predict_cached(images, batch_size, mc_dropout, tta, seed)

    def predict_labelled(
        self, paths: Sequence[str], labels: Sequence[str], **options: int
    ) -> tuple[Predictions, np.ndarray]:
        """:meth:`predict_files` plus the true class index of each readable file (same order).

        ``options`` are those of :meth:`predict_cached` (``batch_size``, ``mc_dropout``, ``tta``, ``seed``).
        """
        result = self.predict_files(paths, **options)
        label_of = dict(zip(paths, labels, strict=True))
        y_true = np.array([self.classes.index(label_of[p]) for p in result.paths], dtype=np.int64)
        return result, y_true

    def predict_cached(
        self, images: CachedImages, batch_size: int = 64, mc_dropout: int = 0, tta: int = 0, seed: int = 0
    ) -> Predictions:
        """Decide for images already in the array cache.

        Args:
            images: cache rows to predict.
            batch_size: images per forward pass.
            mc_dropout: N > 0: average N passes with the dropout layers active (batch-norm stays in eval mode).
            tta: N > 0: average N test-time augmented views (view 0 is the image itself; then flips and small
                shifts from the eval-safe part of the training augmentation, seeded per view and image).
            seed: seed of the dropout masks and augmentations.

        Raises:
            ConfigError: a negative pass count.
        """
        if mc_dropout < 0 or tta < 0:
            raise ConfigError(f"--mc-dropout {mc_dropout} / --tta {tta}: pass counts must be >= 0")
        self.check_mc_dropout(mc_dropout)
        plain = self._dataset(images, eval_transform(self.meta))
        if not (mc_dropout or tta):
            logits = self.logits(DataLoader(plain, batch_size=batch_size))
            probs, predicted = self.decide(logits)
            return Predictions(images.paths, probs, predicted, images.failures, logits=logits)
        return self._predict_passes(images, plain, batch_size, mc_dropout, tta, seed)

    def check_mc_dropout(self, passes: int) -> None:
        """Refuse MC dropout (``passes > 0``) on a model without an active dropout layer: every pass would be
        the same, the spread 0 and the uncertainty plain entropy, which would look like a real estimate.

        Raises:
            ConfigError: naming the model and the setting that gives it dropout.
        """
        if passes <= 0 or dropout_layers(self.model):
            return
        name, rate = self.meta.model.get("name", "the model"), float(self.meta.model.get("drop_rate") or 0.0)
        if isinstance(self.model, OnnxModule | torch.jit.ScriptModule):  # export fixes dropout off
            raise ConfigError(
                f"--mc-dropout {passes}: this exported {name} cannot switch its dropout on; use the run's "
                "checkpoint (RUN_DIR) instead of the bundle, or leave out --mc-dropout"
            )
        raise ConfigError(
            f"--mc-dropout {passes}: {name} has no dropout layer (model.drop_rate = {rate:g}), so every pass "
            "would be identical (spread 0); train it with --set model.drop_rate=0.2, or leave out --mc-dropout"
        )

    def _dataset(self, images: CachedImages, transform: object, seed: int = 0) -> CachedImageDataset:
        zeros = np.zeros(len(images.rows), dtype=np.int64)
        return CachedImageDataset(images.cache.arrays, images.rows, zeros, transform, seed=seed)

    def _predict_passes(
        self,
        images: CachedImages,
        plain: CachedImageDataset,
        batch_size: int,
        mc_dropout: int,
        tta: int,
        seed: int,
    ) -> Predictions:
        """Pass ``(t, m)`` uses TTA view ``t`` and MC-dropout draw ``m``: ``max(tta, 1) * max(mc_dropout, 1)``
        passes in all. With ``tta=1`` and no MC dropout the result equals plain prediction exactly."""
        mean, std = self.meta.preprocess.mean, self.meta.preprocess.std
        size = self.meta.preprocess.image_size
        augmented = self._dataset(images, TrainTransform(tta_augment(self.meta), size, mean, std), seed=seed)
        draws, views, n = max(mc_dropout, 1), max(tta, 1), len(images.rows)

        def batches_of_pass(p: int) -> DataLoader:
            if p // draws == 0:
                return DataLoader(plain, batch_size=batch_size)
            # (view, index) keys seed each augmentation by view and image, whatever the batch size.
            return DataLoader(augmented, batch_size=batch_size, sampler=[(p // draws, i) for i in range(n)])

        switched = dropout_active(self.model) if mc_dropout > 0 else contextlib.nullcontext([])
        with switched as layers:
            if n:
                logits = stacked_logits(self.model, batches_of_pass, draws * views, seed=seed)
            else:
                logits = np.zeros((draws * views, 0, len(self.classes)), dtype=np.float32)
        self.model.eval()
        labels = self.meta.multilabel
        if labels is not None:  # per-label sigmoids averaged over the passes
            summary = summarize_label_passes(np.stack([labels.probabilities(run) for run in logits]), labels)
        else:
            pass_probs = np.stack([self.meta.decision.probabilities(run) for run in logits])
            summary = summarize_passes(pass_probs, self.meta.decision)
        return Predictions(
            images.paths,
            summary.probs,
            summary.predicted,
            images.failures,
            entropy=summary.entropy,
            std=summary.std,
            passes=draws * views,
            dropout_layers=len(layers),
            label_std=summary.label_std,
        )
