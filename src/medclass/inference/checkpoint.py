"""Loading a model and its description (:class:`~medclass.inference.spec.ModelSpec`, stored under
``checkpoint["medclass"]``) back from a checkpoint or run folder.

Reading lives here, below the feature packages, because predict, evaluate, explain, export and serve all load
models; writing what training decides (the fitted decision) is ``medclass.training.checkpoint``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from medclass.inference.ensemble import build_ensemble, is_ensemble
from medclass.inference.spec import ModelSpec
from medclass.models import create_model
from medclass.runs import resolve_checkpoint
from medclass.utils.errors import WeightsError


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint dict on the CPU.

    medclass checkpoints hold plain Python values next to tensors, so they are loaded with
    ``weights_only=False``: only open checkpoints you trust, as with any pickle.
    """
    try:
        return torch.load(Path(path), map_location="cpu", weights_only=False)
    except Exception as exc:  # a truncated or foreign file
        raise WeightsError(f"{path}: not a readable checkpoint ({exc})") from exc


def load_for_inference(path: str | Path, epoch: int | None = None) -> tuple[nn.Module, ModelSpec]:
    """The model in eval mode and its description, from a checkpoint file or a run folder.

    Raises:
        WeightsError: the file is not a medclass checkpoint, or its description and weights do not fit.
    """
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
        meta = ModelSpec.from_dict(checkpoint["medclass"])
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
