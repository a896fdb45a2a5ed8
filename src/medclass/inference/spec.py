"""The one description of a trained model: :class:`ModelSpec`.

Training writes it once (into the checkpoint's ``medclass`` entry); checkpoint loading, export (a bundle's
``medclass.json`` carries it under ``spec``), serve, the report and every inference path read it. It says what a
consumer needs to turn a file into a decision: the classes, the preprocessing (:class:`Preprocess`), the fitted
:class:`~medclass.inference.decision.Decision` (temperature, threshold on the declared positive class, the
uncertainty rule), the architecture to rebuild, and where and with what the model was made.

It is a pydantic model, so a malformed description is one validation error, and
``ModelSpec.model_json_schema()`` is its published schema. Descriptions written before it existed (the untyped
``CheckpointMeta`` dict of checkpoint format 1) load through :func:`migrate`, the one migration function.
"""

from __future__ import annotations

import platform
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from medclass.data.preprocess import PreprocessSettings
from medclass.inference.decision import Decision, MultilabelDecision
from medclass.utils.errors import ConfigError

SPEC_VERSION = 2


class Preprocess(BaseModel):
    """How a file becomes the model's input tensor: the pixel preprocessing (size, channels, resize rule,
    foreground crop, slice, window) and the normalisation (``(x / 255 - mean) / std`` per channel)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    settings: PreprocessSettings
    mean: tuple[float, ...]
    std: tuple[float, ...]
    normalization: str | None = Field(
        default=None, description="where mean and std come from, e.g. 'weights (torchvision IMAGENET1K_V1)'"
    )

    @model_validator(mode="after")
    def _statistics_fit_the_channels(self) -> Preprocess:
        channels = self.settings.channels
        if len(self.mean) != channels or len(self.std) != channels:
            raise ValueError(
                f"mean {list(self.mean)} and std {list(self.std)} need one value per channel ({channels})"
            )
        if any(s <= 0 for s in self.std):
            raise ValueError(f"std {list(self.std)} must be positive")
        return self

    @property
    def image_size(self) -> int:
        """Input height and width in pixels."""
        return self.settings.image_size

    @property
    def channels(self) -> int:
        """Input channels (1 grey, 3 RGB)."""
        return self.settings.channels


class ModelSpec(BaseModel):
    """The typed description of a trained model (see the module docstring).

    Attributes:
        spec_version: :data:`SPEC_VERSION`.
        model: the architecture: :func:`medclass.models.create_model` keyword arguments, or an ensemble's
            description (``name: ensemble``).
        classes: class names; index i is logit i.
        preprocess: see :class:`Preprocess`.
        decision: the fitted decision rule (a multi-label model keeps its temperatures per label in ``multilabel``).
        multilabel: a multi-label model's per-label rules (``classes`` are then its label names, each output
            a sigmoid); absent (None) for a single-label model, whose stored form is then unchanged.
        config: the resolved run config.
        source_run: the run folder the model was trained in (None when unknown).
        versions: ``medclass``, ``torch`` and ``python`` versions it was trained with.
    """

    model_config = ConfigDict(extra="forbid")

    spec_version: Literal[2] = SPEC_VERSION
    model: dict[str, Any]
    classes: list[str] = Field(min_length=1)
    preprocess: Preprocess
    decision: Decision = Field(default_factory=Decision)
    multilabel: MultilabelDecision | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    source_run: str | None = None
    versions: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _decision_fits_the_classes(self) -> ModelSpec:
        decision = self.decision
        if self.multilabel is not None:
            if self.multilabel.labels != self.classes:
                raise ValueError(
                    f"multilabel rules for {self.multilabel.labels} do not match the labels {self.classes}"
                )
            if decision.threshold is not None or decision.positive_class is not None:
                raise ValueError("a multi-label model has per-label thresholds, not decision.threshold")
        elif len(self.classes) == 2:
            if decision.positive_class is None:
                decision.positive_class = self.classes[decision.positive_index]
            if decision.positive_class not in self.classes:
                raise ValueError(
                    f"decision.positive_class {decision.positive_class!r} is not one of the classes {self.classes}"
                )
            decision.positive_index = self.classes.index(decision.positive_class)
        elif decision.threshold is not None or decision.positive_class is not None:
            raise ValueError(
                f"a threshold and a positive class apply to binary tasks only; the model has "
                f"{len(self.classes)} classes"
            )
        return self

    @property
    def is_multilabel(self) -> bool:
        """Whether the model decides each label on its own (sigmoid outputs, per-label thresholds)."""
        return self.multilabel is not None

    def require_single_label(self, command: str) -> None:
        """Refuse a command that does not handle multi-label models yet (before it does any work).

        Raises:
            ConfigError: naming the command and what does handle them.
        """
        if self.multilabel is not None:
            raise ConfigError(
                f"{command}: not available for multi-label models yet; train, evaluate, report, predict, "
                "explain, compare, ensemble, tune, export and serve handle them"
            )

    @property
    def positive_class(self) -> str | None:
        """The declared positive class of a binary task (None: multi-class)."""
        return self.decision.positive_class

    def with_decision(self, decision: Decision) -> ModelSpec:
        """A copy with ``decision`` (validated against the classes)."""
        return ModelSpec.model_validate({**self.model_dump(), "decision": decision})

    def with_multilabel(self, multilabel: MultilabelDecision) -> ModelSpec:
        """A copy with the per-label rules ``multilabel`` (validated against the labels)."""
        return ModelSpec.model_validate({**self.model_dump(), "multilabel": multilabel})

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form stored in checkpoints and bundles (without ``multilabel`` for a single-label
        model, so its stored form is the one written before multi-label models existed)."""
        return self.model_dump(mode="json", exclude={"multilabel"} if self.multilabel is None else None)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        """A spec from its stored form, of this or an older version (see :func:`migrate`).

        Raises:
            pydantic.ValidationError: the description is malformed.
        """
        return cls.model_validate(migrate(data))


def training_versions() -> dict[str, str]:
    """The versions a model is trained with (recorded in :attr:`ModelSpec.versions`)."""
    import torch

    import medclass

    return {
        "medclass": medclass.__version__,
        "torch": str(torch.__version__),
        "python": platform.python_version(),
    }


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """A stored description in the layout of :data:`SPEC_VERSION`.

    Version 1 (``CheckpointMeta``, no ``spec_version``): ``model``, ``classes``, an untyped ``preprocess`` dict
    (``PreprocessSettings`` fields with ``mean``, ``std``, ``normalization``), ``config``, ``temperature``,
    ``threshold`` and, when a decision was fitted, a ``decision`` record. Its threshold was on the probability
    of ``classes[1]`` whatever the positive class; when the declared positive class was ``classes[0]`` the
    threshold becomes ``1 - t`` on that class's probability (the same decisions but at exact equality, which the
    midpoint thresholds of :mod:`medclass.evaluation.thresholds` no longer produce).
    """
    if not isinstance(data, dict):
        raise ValueError(f"a model description is a dict, got {type(data).__name__}")
    if "spec_version" in data:
        return data
    preprocess = dict(data.get("preprocess") or {})
    stored = dict(data.get("decision") or {})
    decision = {k: v for k, v in stored.items() if k in Decision.__dataclass_fields__}
    # The bare values are what version 1 applied; they win over the record should both disagree.
    decision["temperature"] = float(data.get("temperature", 1.0))
    decision["threshold"] = data.get("threshold")
    if decision["threshold"] is None:
        decision["rule"] = None
    classes = [str(c) for c in data.get("classes") or []]
    if len(classes) == 2:
        configured = ((data.get("config") or {}).get("evaluation") or {}).get("positive_class")
        positive = decision.get("positive_class") or configured or classes[1]
        decision["positive_class"] = positive
        if positive == classes[0] and decision["threshold"] is not None:
            decision["threshold"] = 1.0 - float(decision["threshold"])
    else:
        decision["positive_class"] = None
    return {
        "spec_version": SPEC_VERSION,
        "model": data.get("model"),
        "classes": classes,
        "preprocess": {
            "settings": PreprocessSettings.from_dict(preprocess).to_dict(),
            "mean": preprocess.get("mean"),
            "std": preprocess.get("std"),
            "normalization": preprocess.get("normalization"),
        },
        "decision": decision,
        "config": data.get("config") or {},
    }
