"""``medclass predict``: class probabilities for image files and folders."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from medclass.api.inference import infer_files
from medclass.data.readers import is_image_file
from medclass.evaluation.predictions import prediction_table
from medclass.training.checkpoint import load_for_inference
from medclass.utils.errors import DataError
from medclass.utils.io import natural_key


def collect_files(inputs: Sequence[str | Path]) -> list[str]:
    """Files given directly, plus every image file found recursively in given folders (hidden ones skipped)."""
    files: list[str] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = [
                p
                for p in item.rglob("*")
                if p.is_file()
                and is_image_file(p)
                and not any(part.startswith(".") for part in p.relative_to(item).parts)
            ]
            files += sorted((str(p) for p in found), key=natural_key)
        elif item.exists():
            files.append(str(item))
        else:
            raise DataError(f"{item}: no such file or folder")
    if not files:
        raise DataError(f"no image files found in {', '.join(map(str, inputs))}")
    return files


def predict(
    checkpoint: str | Path, inputs: Sequence[str | Path], out: str | Path | None = None, batch_size: int = 64
) -> pd.DataFrame:
    """Predict every image of ``inputs``; unreadable files get a row with an ``error`` instead of stopping.

    Returns:
        ``path, prediction, confidence, p_<class>..., error`` in input order (written to ``out`` as CSV).
    """
    model, meta = load_for_inference(checkpoint)
    files = collect_files(inputs)
    inference = infer_files(model, meta, files, batch_size=batch_size)
    table = prediction_table(inference.paths, inference.probs, meta.classes, meta.threshold)
    table["error"] = ""
    failed = pd.DataFrame({"path": list(inference.failures), "error": list(inference.failures.values())})
    table = pd.concat([table, failed], ignore_index=True) if len(failed) else table
    order = {path: i for i, path in enumerate(files)}
    table = table.sort_values("path", key=lambda s: s.map(order)).reset_index(drop=True)
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False, float_format="%.6f")
    return table
