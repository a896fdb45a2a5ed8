"""The one path from files (or arrays) to decisions: loading and preprocessing as in training, the model, the
temperature, probabilities, the decision at the stored operating point, MC dropout and TTA.

``medclass.inference.decision`` is pure numpy; the names below load torch on first use, so importing this
package stays cheap.
"""

from __future__ import annotations

from medclass.utils.lazy import lazy_attributes

_EXPORTS = {
    "Predictor": "medclass.inference.runner",
    "Predictions": "medclass.inference.runner",
    "inference_device": "medclass.inference.runner",
    "ModelSpec": "medclass.inference.spec",
    "Decision": "medclass.inference.decision",
    "load_for_inference": "medclass.inference.checkpoint",
    "read_checkpoint": "medclass.inference.checkpoint",
    "collect_files": "medclass.inference.inputs",
    "labelled_files": "medclass.inference.inputs",
    "load_images": "medclass.inference.inputs",
    "eval_transform": "medclass.inference.inputs",
    "is_bundle": "medclass.inference.bundle",
    "load_bundle": "medclass.inference.bundle",
    "decide": "medclass.inference.decision",
    "probabilities": "medclass.inference.decision",
}


__getattr__ = lazy_attributes(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)
