"""Loading weights into a model: checkpoints, state dicts and the pretrained files of
:mod:`medclass.models.pretrained` (which finds or downloads them).

:func:`load_weights` reads a medclass/Lightning checkpoint, a plain state dict, or a dict with a ``state_dict`` or
``model`` entry, then loads it leniently where that is safe: an RGB first conv is adapted to the model's input
channels (:func:`~medclass.models.layers.adapt_input_conv`) and a classifier head of another shape is skipped
(fine-tuning from another class count). Any other difference is a :class:`WeightsError`.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from medclass.models.layers import adapt_input_conv, classifier_name, find_input_conv
from medclass.utils.errors import WeightsError

log = logging.getLogger(__name__)

# Key prefixes added by wrappers around the network: LitClassifier.model, DataParallel/DDP, torch.compile.
WRAPPER_PREFIXES = ("model.", "module.", "_orig_mod.")
# At most this many offending keys are listed in an error message.
_MAX_LISTED = 5


@dataclass
class LoadReport:
    """What :func:`load_weights` did.

    Attributes:
        source: the file (or "state dict").
        loaded: number of tensors copied into the model.
        adapted: keys whose first-conv weight was adapted to the input channels.
        skipped_head: head keys not loaded because their shape differs (the head keeps its random init).
        missing_head: head keys the file does not have.
    """

    source: str
    loaded: int = 0
    adapted: list[str] = field(default_factory=list)
    skipped_head: list[str] = field(default_factory=list)
    missing_head: list[str] = field(default_factory=list)


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read the tensors of a weights file: a state dict, a Lightning/medclass checkpoint, a ``{"model": ...}``
    or ``{"state_dict": ...}`` dict (torchvision's and timm's training scripts), or ``.safetensors``.

    Files are read with ``torch.load(weights_only=True)``; a file holding other Python objects is read with
    full unpickling after a warning (only load files you trust).

    Raises:
        WeightsError: if the file is missing, unreadable, or holds no tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path}: not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return dict(load_file(str(path), device="cpu"))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        log.warning("%s holds Python objects besides tensors; loading it with full unpickling", path)
        try:
            obj = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise WeightsError(f"weights file {path}: cannot be read ({exc})") from exc
    except Exception as exc:
        raise WeightsError(f"weights file {path}: cannot be read ({exc})") from exc
    state = _unwrap(obj)
    if state is None:
        keys = ", ".join(list(obj)[:8]) if isinstance(obj, Mapping) else type(obj).__name__
        raise WeightsError(
            f"weights file {path}: no state dict found (top level: {keys}); expected a state dict or a dict "
            f"with 'state_dict' or 'model'"
        )
    return state


def _unwrap(obj: object) -> dict[str, torch.Tensor] | None:
    if isinstance(obj, nn.Module):
        return dict(obj.state_dict())
    if not isinstance(obj, Mapping):
        return None
    for key in ("state_dict", "model", "model_state_dict"):
        inner = obj.get(key)
        if isinstance(inner, Mapping | nn.Module):
            found = _unwrap(inner)
            if found:
                return found
    tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    return tensors or None


def _strip_wrapper_prefixes(state: dict[str, torch.Tensor], model_keys: set[str]) -> dict[str, torch.Tensor]:
    """Drop the ``model.``/``module.``/``_orig_mod.`` prefixes the model itself does not have.

    In a Lightning checkpoint only the ``model.`` entries are the network; others (e.g. a loss's class-weight
    buffer) are left out.
    """
    for prefix in WRAPPER_PREFIXES:
        if any(k.startswith(prefix) for k in model_keys):
            continue
        prefixed = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if prefixed:
            dropped = [k for k in state if not k.startswith(prefix)]
            if dropped:
                log.debug("ignoring %d entries outside %r: %s", len(dropped), prefix, dropped[:_MAX_LISTED])
            state = prefixed
    return state


_SEQ_INDEX = re.compile(r"\.\d+(?=\.[^.]+$)")


def _remap_head_layout(state: dict[str, torch.Tensor], model_keys: set[str], head: str) -> None:
    """Accept a head saved as ``Sequential(Dropout, Linear)`` (``fc.1.weight``) for a model's ``fc.weight``."""
    for key in [k for k in state if k not in model_keys and k.startswith(head + ".")]:
        plain = _SEQ_INDEX.sub("", key, count=1)
        if plain in model_keys and plain not in state:
            state[plain] = state.pop(key)


def _listed(items: list[str]) -> str:
    more = f" (+{len(items) - _MAX_LISTED} more)" if len(items) > _MAX_LISTED else ""
    return ", ".join(items[:_MAX_LISTED]) + more


def load_weights(
    model: nn.Module, source: str | os.PathLike | Mapping[str, torch.Tensor], *, name: str | None = None
) -> LoadReport:
    """Load a weights file or state dict into ``model`` (in place).

    Rules:
        - wrapper prefixes (``model.`` of a medclass/Lightning checkpoint, ``module.``, ``_orig_mod.``) go;
        - an RGB first-conv weight is adapted to the model's input channels (sum over RGB for grayscale);
        - the classifier head is skipped, with a logged note, when its shape differs (another class count);
        - anything else that differs (missing, unexpected or mis-shaped keys) raises.

    Args:
        model: the network.
        source: a path (see :func:`read_state_dict`) or a state dict.
        name: label for messages (default: the path).

    Returns:
        A :class:`LoadReport`.

    Raises:
        WeightsError: listing a few offending keys and their shapes.
    """
    label = name or (str(source) if not isinstance(source, Mapping) else "state dict")
    state = dict(read_state_dict(source) if not isinstance(source, Mapping) else _unwrap(source) or {})
    if not state:
        raise WeightsError(f"{label}: no tensors to load")
    target = model.state_dict()
    model_keys = set(target)
    state = _strip_wrapper_prefixes(state, model_keys)
    head = classifier_name(model)
    head_prefix = head + "."
    _remap_head_layout(state, model_keys, head)
    conv_name, _ = find_input_conv(model)
    conv_key = f"{conv_name}.weight"

    report = LoadReport(source=label)
    new_state: dict[str, torch.Tensor] = {}
    unexpected: list[str] = []
    mismatched: list[str] = []
    head_mismatch: list[str] = []
    for key, value in state.items():
        if key not in target:
            unexpected.append(key)
            continue
        want = target[key]
        if value.shape == want.shape:
            new_state[key] = value
        elif key == conv_key and value.ndim == 4 and value.shape[0] == want.shape[0] and value.shape[1] == 3:
            new_state[key] = adapt_input_conv(want.shape[1], value)
            report.adapted.append(key)
        elif key.startswith(head_prefix):
            head_mismatch.append(f"{key} {tuple(value.shape)} vs model {tuple(want.shape)}")
        else:
            mismatched.append(f"{key} {tuple(value.shape)} vs model {tuple(want.shape)}")
    if head_mismatch:
        # Skip the whole head (weight and bias together) so it keeps one consistent random init.
        report.skipped_head = [k for k in state if k.startswith(head_prefix)]
        for key in report.skipped_head:
            new_state.pop(key, None)
    missing = [
        k
        for k in target
        if k not in new_state and not k.startswith(head_prefix) and not k.endswith("num_batches_tracked")
    ]
    report.missing_head = [k for k in target if k.startswith(head_prefix) and k not in state]
    problems = []
    if mismatched:
        problems.append(f"shape differs: {_listed(mismatched)}")
    if missing:
        problems.append(f"missing in the file: {_listed(missing)}")
    if unexpected:
        problems.append(f"not in the model: {_listed(unexpected)}")
    if problems:
        raise WeightsError(
            f"{label} does not fit {type(model).__name__} ({len(new_state)} of {len(target)} tensors match); "
            + "; ".join(problems)
            + ". Was it saved from another architecture or other model settings?"
        )
    model.load_state_dict(new_state, strict=False)
    report.loaded = len(new_state)
    if report.adapted:
        log.info(
            "%s: first conv %s adapted from 3 to %d input channels",
            label,
            conv_key,
            target[conv_key].shape[1],
        )
    if head_mismatch:
        log.info(
            "%s: classifier head %s not loaded (%s): another class count, so the head starts from random init",
            label,
            head,
            head_mismatch[0],
        )
    elif report.missing_head:
        log.info("%s: classifier head %s not in the file; it starts from random init", label, head)
    return report
