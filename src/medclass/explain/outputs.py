"""Where explanations go and what they are called: the output folder, one file stem per input, the index."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from medclass.runs import CHECKPOINTS_DIR, EXPLANATIONS_DIR, EXPLANATIONS_INDEX_FILE, prepare_output_dir
from medclass.utils.errors import RunDirError

INDEX_FILE = EXPLANATIONS_INDEX_FILE
INDEX_COLUMNS = ["path", "overlay", "map", "method", "layer", "target", "prediction", "confidence", "error"]
FAITHFULNESS_COLUMNS = ["deletion_auc", "insertion_auc"]


def default_out_dir(source: str | Path, method: str) -> Path:
    """``<run folder>/explanations/<method>``; for a checkpoint outside ``<run>/checkpoints/``, beside it."""
    source = Path(source)
    if source.is_dir():
        return source / EXPLANATIONS_DIR / method
    run = source.parent.parent if source.parent.name == CHECKPOINTS_DIR else source.parent
    return run / EXPLANATIONS_DIR / method


def output_stems(files: Sequence[str]) -> list[str]:
    """One output name per input: the file's stem (``.nii.gz`` counted whole), ``_2``, ``_3`` ... on repeats."""
    seen: dict[str, int] = {}
    stems = []
    for file in files:
        name = Path(file).name
        stem = name[: -len(".nii.gz")] if name.lower().endswith(".nii.gz") else Path(name).stem
        count = seen.get(stem.lower(), 0) + 1
        seen[stem.lower()] = count
        stems.append(stem if count == 1 else f"{stem}_{count}")
    return stems


def prepare_out_dir(out: Path, files: Sequence[str]) -> Path:
    """Claim ``out`` for explanations (see :func:`medclass.runs.prepare_output_dir`): a new or empty folder,
    or one this command wrote before; never a folder that holds any of the input images.

    Raises:
        RunDirError: ``out`` is a file, a folder of something else, or holds an input image.
    """
    out = Path(out)
    resolved = out.resolve()
    inside = [f for f in files if Path(f).resolve().parent == resolved]
    if inside:
        raise RunDirError(f"--out {out}: holds input image {inside[0]}; choose another folder")
    return prepare_output_dir(out, "explanations", reuse=True, legacy=(INDEX_FILE,)).path
