"""Explanations of a multi-label model: a map per label (``--target LABEL``: that label's only), each of the
label's own logit. A label is decided by ``sigmoid(z_label)`` alone, so the score explained is ``z_label`` as it
is (not its margin over the other labels, as for the classes of a softmax head).

Per input image and explained label: ``<stem>_<label>.png`` and ``<stem>_<label>.npy`` (with ``--target``,
``<stem>.png`` and ``<stem>.npy`` as for a single-label model), one row of ``explanations.csv`` each (``target``
names the label, ``prediction`` the image's positive labels, ``confidence`` the label's probability).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from medclass.explain.methods import ExplanationPlan, explanation_maps
from medclass.inference.inputs import CachedImages
from medclass.inference.runner import Predictor
from medclass.utils.errors import ConfigError

# The target of a one-logit head that means "the logit as it is" (explain.targets: index 1 is the positive class).
POSITIVE = 1


class LabelLogit(nn.Module):
    """``model`` reduced to one label's logit ``(N, 1)``: explaining its positive side explains ``z_label``."""

    def __init__(self, model: nn.Module, label: int) -> None:
        super().__init__()
        self.model = model
        self.label = int(label)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[:, self.label : self.label + 1]


def check_multilabel_request(plan: ExplanationPlan, faithfulness: bool, sanity: bool) -> None:
    """Refuse the options not available for multi-label models yet (before any work).

    Raises:
        ConfigError: naming the option.
    """
    for given, option in (
        (plan.contrast is not None, "--contrast"),
        (plan.true_class, "--target true"),
        (faithfulness, "--faithfulness"),
        (sanity, "--sanity"),
    ):
        if given:
            raise ConfigError(
                f"{option}: not available for multi-label models yet; give --target LABEL or leave it out "
                "for a map per label"
            )


def label_stem(stem: str, label: str) -> str:
    """``<stem>_<label>`` with the characters a file name should not hold replaced by ``_``."""
    return f"{stem}_{re.sub(r'[^A-Za-z0-9._-]+', '_', label)}"


def explain_label_batch(
    predictor: Predictor,
    images: CachedImages,
    indices: Sequence[int],
    plan: ExplanationPlan,
    out: Path,
    stems: dict[str, str],
    write_explanation: Any,
) -> list[dict[str, Any]]:
    """Explain the readable images at ``indices`` for ``plan.fixed_target`` (a label index) or every label:
    one index row per (image, label), files written into ``out`` by ``write_explanation``
    (:func:`medclass.explain.files.write_explanation`)."""
    meta, model = predictor.meta, predictor.model
    labels = list(meta.classes)
    inputs = images.tensor(indices, meta).to(predictor.device)
    probs, positive = predictor.predict_tensor(inputs)
    explained = [plan.fixed_target] if plan.fixed_target is not None else range(len(labels))
    rows = []
    for j in explained:
        maps, _ = explanation_maps(
            LabelLogit(model, j), inputs, [POSITIVE] * len(indices), plan.method, plan.layer, plan.baseline
        )
        for i, index in enumerate(indices):
            path = images.paths[index]
            found = "|".join(name for name, on in zip(labels, positive[i], strict=True) if on) or "none"
            stem = stems[path] if plan.fixed_target is not None else label_stem(stems[path], labels[j])
            title = (
                f"{Path(path).name}: labels {found}; explaining {labels[j]} (p = {float(probs[i, j]):.1%})"
            )
            overlay, raw = write_explanation(
                out,
                stem,
                images.pixels(index),
                maps[i],
                title,
                f"{plan.method} @ {plan.layer_name}",
                plan.method,
            )
            rows.append(
                {
                    "path": path,
                    "overlay": overlay,
                    "map": raw,
                    "method": plan.method,
                    "layer": plan.layer_name,
                    "target": labels[j],
                    "prediction": "" if found == "none" else found,
                    "confidence": float(probs[i, j]),
                    "error": "",
                }
            )
    return rows
