"""What the model decided for one DICOM instance, in the terms a report needs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medclass.inference.decision import uncertain
from medclass.inference.passes import predictive_entropy
from medclass.inference.runner import Predictions
from medclass.inference.spec import ModelSpec


@dataclass(frozen=True)
class Finding:
    """One instance's result under the model's own decision rule.

    Attributes:
        classes: the model's classes.
        probs: the probability of each class (after the temperature).
        predicted: index of the decided class (at the operating point for a binary model with one).
        threshold: the operating point on ``positive_class``'s probability (None: argmax).
        positive_class: the declared positive class of a binary model (None: multi-class).
        above: the positive class's probability reaches the threshold (None without one).
        uncertain: the predictive entropy exceeds the asked limit (None: not asked).
    """

    classes: tuple[str, ...]
    probs: tuple[float, ...]
    predicted: int
    threshold: float | None = None
    positive_class: str | None = None
    above: bool | None = None
    uncertain: bool | None = None

    @property
    def label(self) -> str:
        """The decided class's name."""
        return self.classes[self.predicted]


def findings_of(
    result: Predictions, spec: ModelSpec, flag_uncertain: float | None = None
) -> dict[str, Finding]:
    """The :class:`Finding` of each readable file of ``result`` (keyed by its path).

    Args:
        result: what :meth:`medclass.inference.runner.Predictor.predict_files` returned.
        spec: the model's description (classes and decision rule).
        flag_uncertain: an entropy limit (nats): mark findings above it uncertain (None: no flag).
    """
    decision = spec.decision
    above = decision.above_threshold(result.probs)
    flags = None
    if flag_uncertain is not None:
        entropy = result.entropy if result.entropy is not None else predictive_entropy(result.probs)
        flags = uncertain(entropy, len(spec.classes), flag_uncertain)
    findings = {}
    for i, path in enumerate(result.paths):
        findings[path] = Finding(
            classes=tuple(spec.classes),
            probs=tuple(float(p) for p in np.asarray(result.probs[i])),
            predicted=int(result.predicted[i]),
            threshold=decision.threshold,
            positive_class=decision.positive_class,
            above=None if above is None else bool(above[i]),
            uncertain=None if flags is None else bool(flags[i]),
        )
    return findings
