"""Writing into checkpoints what was decided after training (temperature, threshold), and reading it back."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from medclass.evaluation.decision_fit import Decision
from medclass.inference.checkpoint import CheckpointMeta, read_checkpoint
from medclass.utils.io import atomic_write


def store_decision(checkpoint: str | Path, decision: Decision) -> None:
    """Write ``temperature`` and ``threshold`` (and how they were chosen) into a checkpoint's ``medclass`` entry.

    The file is replaced atomically (temporary file, then ``os.replace``), so an interruption leaves the old
    checkpoint intact.
    """
    path = Path(checkpoint)
    state = read_checkpoint(path)
    meta = state.setdefault("medclass", {})
    meta["temperature"] = decision.temperature
    meta["threshold"] = decision.threshold
    meta["decision"] = asdict(decision)
    with atomic_write(path, "wb") as handle:
        torch.save(state, handle)


# What only a resume needs; a model kept for inference goes without it.
_RESUME_ONLY_KEYS = ("optimizer_states", "lr_schedulers", "loops", "callbacks")


def keep_for_inference(source: str | Path, target: str | Path, decision: Decision) -> Path:
    """Write ``source``'s weights and metadata (no optimizer or loop state) to ``target`` with ``decision``.

    Used by ``--refit``: the model trained on train+val takes the temperature and threshold fitted on val by
    the first fit, whose model had not seen the val images.
    """
    state = read_checkpoint(source)
    kept = {k: v for k, v in state.items() if k not in _RESUME_ONLY_KEYS}
    with atomic_write(target, "wb") as handle:
        torch.save(kept, handle)
    store_decision(target, decision)
    return Path(target)


def stored_decision(checkpoint: str | Path, meta: CheckpointMeta) -> Decision:
    """The decision stored in a checkpoint (by :func:`store_decision`), or the bare temperature/threshold of
    ``meta`` when the checkpoint has no record."""
    stored = read_checkpoint(checkpoint).get("medclass", {}).get("decision") or {}
    known = {k: v for k, v in stored.items() if k in Decision.__dataclass_fields__}
    decision = Decision(**known)
    # The meta values are what inference applies; they win over the record should both disagree.
    decision.temperature, decision.threshold = float(meta.temperature), meta.threshold
    if decision.threshold is None:
        decision.rule = None
    return decision


def checkpoint_epoch(checkpoint: Path) -> int | None:
    """The 1-based epoch a checkpoint was saved at (as numbered in metrics.csv)."""
    epoch = read_checkpoint(checkpoint).get("epoch")
    return None if epoch is None else int(epoch) + 1
