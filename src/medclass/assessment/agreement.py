"""An exported bundle checked against the PyTorch model it came from, on the run's own images
(``export`` writes the result into the bundle's ``medclass.json`` as ``check``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medclass.data.multilabel import label_matrix
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
    if torch_predictor.meta.is_multilabel:
        return _label_agreement(torch_predictor, bundle, paths, labels, split)
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


def _label_agreement(
    torch_predictor: Predictor, bundle: Path, paths: list[str], labels: list[str], split: str
) -> dict[str, Any]:
    """The multi-label check: agreement and accuracy over every (image, label) decision; accuracy counts only
    the labels whose truth is known."""
    reference = torch_predictor.predict_files(paths)
    exported = Predictor.load(bundle).predict_files(paths)
    label_of = dict(zip(paths, labels, strict=True))
    truth = label_matrix([label_of[p] for p in reference.paths], torch_predictor.classes)
    known = ~np.isnan(truth)

    def accuracy(decided: np.ndarray) -> float | None:
        return float((decided[known] == (truth[known] == 1)).mean()) if known.any() else None

    return {
        "split": split,
        "images": len(reference.paths),
        "max_abs_diff": float(np.abs(exported.probs - reference.probs).max(initial=0.0)),
        "agreement": float((exported.predicted == reference.predicted).mean()) if len(paths) else 1.0,
        "accuracy_torch": accuracy(reference.predicted),
        "accuracy_bundle": accuracy(exported.predicted),
    }
