"""Running a model over batches, and the per-image prediction table."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn


def inference_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@torch.inference_mode()
def predict_logits(
    model: nn.Module,
    batches: Iterable[torch.Tensor | tuple[torch.Tensor, ...]],
    device: torch.device | None = None,
) -> np.ndarray:
    """Logits ``(N, K)`` of ``model`` over ``batches`` (tensors, or tuples whose first item is the input)."""
    device = device or inference_device()
    model = model.to(device).eval()
    outputs = []
    for batch in batches:
        images = batch[0] if isinstance(batch, tuple | list) else batch
        outputs.append(model(images.to(device)).float().cpu())
    if not outputs:
        return np.zeros((0, 0), dtype=np.float32)
    return torch.cat(outputs).numpy()


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` (numerically stable)."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def decide(probs: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """Predicted class per row: argmax, or for two classes ``p[:, 1] >= threshold`` when one is set."""
    if threshold is not None and probs.shape[1] == 2:
        return (probs[:, 1] >= threshold).astype(np.int64)
    return probs.argmax(axis=1)


def prediction_table(
    paths: Sequence[str], probs: np.ndarray, classes: Sequence[str], threshold: float | None = None
) -> pd.DataFrame:
    """``path, prediction, confidence, p_<class>...``: confidence is the probability of the predicted class."""
    predicted = decide(probs, threshold)
    table = pd.DataFrame(
        {
            "path": list(paths),
            "prediction": [classes[i] for i in predicted],
            "confidence": probs[np.arange(len(predicted)), predicted] if len(predicted) else [],
        }
    )
    for i, name in enumerate(classes):
        table[f"p_{name}"] = probs[:, i]
    return table
