"""``medclass evaluate``: score a trained model on its own test split or on a labelled folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from medclass.api.inference import infer_files
from medclass.api.prepare import SPLITS_FILE, training_view
from medclass.data.discovery import discover
from medclass.data.splits import read_splits
from medclass.evaluation.bootstrap import bootstrap_ci
from medclass.evaluation.metrics import classification_metrics, classification_report_text
from medclass.training.checkpoint import CheckpointMeta, load_for_inference, resolve_checkpoint
from medclass.utils.errors import DataError, RunDirError
from medclass.utils.io import write_json


def score(
    y_true: np.ndarray,
    probs: np.ndarray,
    classes: list[str],
    threshold: float | None = None,
    bootstrap: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """Metrics of ``probs`` against ``y_true``, with bootstrap 95% CIs under ``ci`` when ``bootstrap > 0``."""
    result = classification_metrics(y_true, probs, classes, threshold=threshold)
    if bootstrap > 0:
        result["ci"] = bootstrap_ci(
            y_true, probs, classes, n_resamples=bootstrap, seed=seed, threshold=threshold
        )
    return result


def run_dir_of(source: str | Path) -> Path:
    """The run folder of a run folder or of a checkpoint inside its ``checkpoints/`` folder."""
    source = Path(source)
    if source.is_dir():
        return source
    if source.parent.name == "checkpoints":
        return source.parent.parent
    raise RunDirError(f"{source}: a checkpoint outside a run folder has no splits; pass --data DIR")


def labelled_files(
    source: str | Path, meta: CheckpointMeta, data: str | Path | None, split: str
) -> tuple[list[str], list[str]]:
    """Paths and labels to evaluate: every image of ``data``, or the run's ``split`` rows."""
    if data is not None:
        index = discover(data)
        unknown = sorted(set(index.classes) - set(meta.classes))
        if unknown:
            raise DataError(
                f"{data}: classes {unknown} are not classes of the model {meta.classes}; "
                "class folder names must match the checkpoint's"
            )
        return [str(s.path) for s in index.samples], [s.label for s in index.samples]
    run_dir = run_dir_of(source)
    table = read_splits(run_dir / SPLITS_FILE, meta.classes)
    table = training_view(table, meta.config.get("split", {}).get("fold", 0))
    rows = table[table["split"] == split]
    if rows.empty:
        raise DataError(f"{run_dir / SPLITS_FILE}: no rows with split '{split}'")
    return list(rows["path"]), list(rows["label"])


def evaluate(
    source: str | Path,
    data: str | Path | None = None,
    split: str = "test",
    epoch: int | None = None,
    out: str | Path | None = None,
    bootstrap: int | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    """Evaluate a checkpoint (or a run folder's best or ``epoch`` checkpoint).

    Args:
        source: run folder or checkpoint file.
        data: a labelled data set (any layout); default: the run's own ``split`` rows.
        split: which split of the run to use when ``data`` is not given.
        epoch: evaluate ``checkpoints/epoch=NN.ckpt`` of the run instead of the best.
        out: write the metrics JSON here.
        bootstrap: bootstrap resamples for CIs (default: the run config's ``evaluation.bootstrap``).

    Returns:
        The metrics dict (as written to ``out``).
    """
    console = console or Console()
    checkpoint = resolve_checkpoint(source, epoch)
    model, meta = load_for_inference(checkpoint)
    paths, labels = labelled_files(source, meta, data, split)
    inference = infer_files(model, meta, paths)
    label_of = dict(zip(paths, labels, strict=True))
    y_true = np.array([meta.classes.index(label_of[p]) for p in inference.paths], dtype=np.int64)
    if bootstrap is None:
        bootstrap = int(meta.config.get("evaluation", {}).get("bootstrap", 1000))
    result = score(y_true, inference.probs, meta.classes, meta.threshold, bootstrap, seed=0)
    result.update(
        checkpoint=str(checkpoint),
        data=str(data) if data is not None else None,
        split=split if data is None else None,
        skipped=[{"path": p, "reason": r} for p, r in inference.failures.items()],
    )
    console.print(classification_report_text(y_true, inference.probs, meta.classes, meta.threshold))
    if inference.failures:
        console.print(f"[yellow]{len(inference.failures)} unreadable file(s) skipped[/]")
    if out is not None:
        write_json(out, result)
        console.print(f"metrics written to {out}")
    return result
