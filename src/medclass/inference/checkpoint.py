"""Checkpoint contents for standalone inference, and loading a model back from a checkpoint or run folder.

Reading lives here, below the feature packages, because predict, evaluate, explain, export and serve all load
models; writing what training decides (temperature, threshold) is ``medclass.training.checkpoint``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from medclass.inference.ensemble import build_ensemble, is_ensemble
from medclass.models import create_model
from medclass.runs import resolve_checkpoint
from medclass.utils.errors import WeightsError

CHECKPOINT_FORMAT = 1


@dataclass
class CheckpointMeta:
    """What evaluate/predict/explain need besides the weights (stored under ``checkpoint["medclass"]``).

    Attributes:
        model: ``create_model`` arguments (name, num_classes, in_chans, drop_rate, cnn, image_size, kwargs).
        classes: class names; index i is logit i.
        preprocess: ``PreprocessSettings.to_dict()`` plus ``mean`` and ``std`` (and, since pretrained weights
            set them, ``normalization``: where they come from, e.g. ``weights (torchvision IMAGENET1K_V1)``).
        config: the resolved run config.
        threshold: binary decision threshold on the positive-class probability (None: argmax).
        temperature: softmax temperature from calibration (1.0: none).
    """

    model: dict[str, Any]
    classes: list[str]
    preprocess: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    threshold: float | None = None
    temperature: float = 1.0
    format: int = CHECKPOINT_FORMAT

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckpointMeta:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint dict on the CPU.

    medclass checkpoints hold plain Python values next to tensors, so they are loaded with
    ``weights_only=False``: only open checkpoints you trust, as with any pickle.
    """
    try:
        return torch.load(Path(path), map_location="cpu", weights_only=False)
    except Exception as exc:  # a truncated or foreign file
        raise WeightsError(f"{path}: not a readable checkpoint ({exc})") from exc


def load_for_inference(path: str | Path, epoch: int | None = None) -> tuple[nn.Module, CheckpointMeta]:
    """The model in eval mode and its metadata, from a checkpoint file or a run folder."""
    file = resolve_checkpoint(path, epoch)
    checkpoint = read_checkpoint(file)
    # A checkpoint is a pickle: anything can be in it. Check its shape here, so that a tensor, a bare state
    # dict or a foreign checkpoint is one clear error instead of a KeyError or TypeError further down.
    if not isinstance(checkpoint, dict):
        raise WeightsError(
            f"{file}: not a medclass checkpoint (holds a {type(checkpoint).__name__}, not a dict); "
            "train with medclass first"
        )
    if not isinstance(checkpoint.get("medclass"), dict):
        raise WeightsError(
            f"{file}: not a medclass checkpoint (no 'medclass' entry); train with medclass first"
        )
    weights = checkpoint.get("state_dict")
    if not isinstance(weights, dict) or not any(str(k).startswith("model.") for k in weights):
        raise WeightsError(
            f"{file}: a medclass checkpoint without model weights ('state_dict' missing or empty)"
        )
    try:
        meta = CheckpointMeta.from_dict(checkpoint["medclass"])
        model = build_ensemble(meta.model) if is_ensemble(meta.model) else create_model(**meta.model)
        state = {k.removeprefix("model."): v for k, v in weights.items() if str(k).startswith("model.")}
        model.load_state_dict(state)
    except WeightsError:
        raise
    except Exception as exc:  # metadata or weights that do not fit each other
        raise WeightsError(
            f"{file}: the checkpoint's model cannot be rebuilt ({type(exc).__name__}: {exc})"
        ) from None
    model.eval()
    return model, meta
