"""``medclass predict``: class probabilities for image files and folders, optionally with uncertainty."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from medclass.api.inference import infer_files
from medclass.api.uncertainty import uncertain_inference
from medclass.data.files import require_regular_file
from medclass.data.readers import is_image_file
from medclass.evaluation.predictions import prediction_table
from medclass.explain.uncertainty import predictive_entropy
from medclass.training.checkpoint import load_for_inference
from medclass.utils.errors import ConfigError, DataError
from medclass.utils.io import natural_key


def collect_files(inputs: Sequence[str | Path]) -> list[str]:
    """Files given directly, plus every image file found recursively in given folders (hidden ones skipped)."""
    files: list[str] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = [
                p
                for p in item.rglob("*")
                if not p.is_dir()  # FIFOs, devices, broken links: reported as unreadable rows
                and is_image_file(p)
                and not any(part.startswith(".") for part in p.relative_to(item).parts)
            ]
            files += sorted((str(p) for p in found), key=natural_key)
        elif item.exists() or item.is_symlink():
            files.append(str(require_regular_file(item, "image file")))
        else:
            raise DataError(f"{item}: no such file or folder")
    if not files:
        raise DataError(f"no image files found in {', '.join(map(str, inputs))}")
    return files


def predict(
    checkpoint: str | Path,
    inputs: Sequence[str | Path],
    out: str | Path | None = None,
    batch_size: int = 64,
    mc_dropout: int = 0,
    tta: int = 0,
    flag_uncertain: float | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Predict every image of ``inputs``; unreadable files get a row with an ``error`` instead of stopping.

    Args:
        checkpoint: checkpoint file or run folder.
        inputs: image files and folders (searched recursively).
        out: CSV to write.
        batch_size: images per forward pass.
        mc_dropout: N > 0: average N passes with the dropout layers active (batch-norm stays in eval mode).
        tta: N > 0: average N test-time augmented views (the first is the image itself; then flips and
            small shifts from the eval-safe part of the training augmentation).
        flag_uncertain: mark rows whose predictive entropy (nats) exceeds this in an ``uncertain`` column.
        seed: seed of the dropout masks and augmentations.

    Returns:
        ``path, prediction, confidence, p_<class>..., [entropy, std,] [uncertain,] error`` in input order
        (written to ``out`` as CSV). ``entropy`` and ``std`` (of the predicted class's probability over the
        passes) come with ``mc_dropout``/``tta``; ``flag_uncertain`` alone adds the entropy of the plain
        prediction. ``table.attrs["dropout_layers"]`` counts the dropout layers MC dropout switched on.

    Raises:
        ConfigError: a negative pass count or threshold.
    """
    if flag_uncertain is not None and flag_uncertain < 0:
        raise ConfigError(f"--flag-uncertain {flag_uncertain}: an entropy threshold must be >= 0 (nats)")
    model, meta = load_for_inference(checkpoint)
    files = collect_files(inputs)
    dropout_count = None
    if mc_dropout or tta:
        result = uncertain_inference(model, meta, files, mc_dropout, tta, batch_size=batch_size, seed=seed)
        table = prediction_table(result.paths, result.probs, meta.classes, meta.threshold)
        table["entropy"] = result.entropy
        table["std"] = result.std
        failures, dropout_count = result.failures, result.dropout_layers
    else:
        inference = infer_files(model, meta, files, batch_size=batch_size)
        table = prediction_table(inference.paths, inference.probs, meta.classes, meta.threshold)
        if flag_uncertain is not None:
            table["entropy"] = predictive_entropy(inference.probs)
        failures = inference.failures
    if flag_uncertain is not None:
        table["uncertain"] = table["entropy"] > flag_uncertain
    table["error"] = ""
    failed = pd.DataFrame({"path": list(failures), "error": list(failures.values())})
    table = pd.concat([table, failed], ignore_index=True) if len(failed) else table
    order = {path: i for i, path in enumerate(files)}
    table = table.sort_values("path", key=lambda s: s.map(order)).reset_index(drop=True)
    if dropout_count is not None and mc_dropout:
        table.attrs["dropout_layers"] = dropout_count
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False, float_format="%.6f")
    return table
