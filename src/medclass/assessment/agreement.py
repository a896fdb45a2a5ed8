"""An exported bundle checked against the PyTorch model it came from, on the run's own images
(``export`` writes the result into the bundle's ``medclass.json`` as ``check``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medclass.inference.inputs import labelled_files
from medclass.inference.runner import Predictor
from medclass.utils.errors import DataError, RunDirError


def bundle_agreement(source: str | Path, bundle: Path, split: str = "test") -> dict[str, Any] | None:
    """Max |p_bundle - p_torch|, agreement and accuracies on the run's ``split`` (None: no split rows, or a
    checkpoint outside a run folder)."""
    torch_predictor = Predictor.load(source)
    try:
        paths, labels = labelled_files(source, torch_predictor.meta, None, split)
    except (DataError, RunDirError):
        return None
    reference, y_true = torch_predictor.predict_labelled(paths, labels)
    exported = Predictor.load(bundle).predict_files(paths)
    return {
        "split": split,
        "images": len(reference.paths),
        "max_abs_diff": float(np.abs(exported.probs - reference.probs).max(initial=0.0)),
        "agreement": float((exported.predicted == reference.predicted).mean()) if len(y_true) else 1.0,
        "accuracy_torch": float((reference.predicted == y_true).mean()) if len(y_true) else None,
        "accuracy_bundle": float((exported.predicted == y_true).mean()) if len(y_true) else None,
    }
