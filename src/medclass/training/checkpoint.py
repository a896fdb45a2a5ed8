"""Writing into checkpoints what was decided after training (the fitted :class:`Decision`), as part of the
model description (:class:`~medclass.inference.spec.ModelSpec`) that inference reads."""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from medclass.inference.checkpoint import read_checkpoint
from medclass.inference.decision import Decision, MultilabelDecision
from medclass.inference.spec import ModelSpec
from medclass.runs import run_dir_of
from medclass.utils.errors import RunDirError
from medclass.utils.io import atomic_write


def store_label_rules(checkpoint: str | Path, multilabel: MultilabelDecision) -> ModelSpec:
    """Write a multi-label model's per-label rules into its checkpoint's description (atomically, as
    :func:`store_decision`); returns the description written."""
    path = Path(checkpoint)
    state = read_checkpoint(path)
    return _write_spec(path, state, ModelSpec.from_dict(state["medclass"]).with_multilabel(multilabel))


def store_decision(checkpoint: str | Path, decision: Decision) -> ModelSpec:
    """Write ``decision`` into a checkpoint's model description (migrated to the current version on the way,
    with the run folder it lies in as ``source_run``); returns the description written.

    The file is replaced atomically (temporary file, then ``os.replace``), so an interruption leaves the old
    checkpoint intact.
    """
    path = Path(checkpoint)
    state = read_checkpoint(path)
    return _write_spec(path, state, ModelSpec.from_dict(state["medclass"]).with_decision(decision))


def _write_spec(path: Path, state: dict, spec: ModelSpec) -> ModelSpec:
    with contextlib.suppress(RunDirError):  # a checkpoint outside a run folder has no source run
        spec.source_run = str(run_dir_of(path).resolve())
    state["medclass"] = spec.to_dict()
    with atomic_write(path, "wb") as handle:
        torch.save(state, handle)
    return spec


# What only a resume needs; a model kept for inference goes without it.
_RESUME_ONLY_KEYS = ("optimizer_states", "lr_schedulers", "loops", "callbacks")


def keep_for_inference(source: str | Path, target: str | Path, decision: Decision) -> Path:
    """Write ``source``'s weights and description (no optimizer or loop state) to ``target`` with ``decision``.

    Used by ``--refit``: the model trained on train+val takes the decision fitted on val by the first fit,
    whose model had not seen the val images.
    """
    state = read_checkpoint(source)
    kept = {k: v for k, v in state.items() if k not in _RESUME_ONLY_KEYS}
    with atomic_write(target, "wb") as handle:
        torch.save(kept, handle)
    store_decision(target, decision)
    return Path(target)


def checkpoint_epoch(checkpoint: Path) -> int | None:
    """The 1-based epoch a checkpoint was saved at (as numbered in metrics.csv)."""
    epoch = read_checkpoint(checkpoint).get("epoch")
    return None if epoch is None else int(epoch) + 1
