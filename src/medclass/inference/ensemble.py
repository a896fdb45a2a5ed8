"""An ensemble of trained models as one model: the average of the members' calibrated probabilities.

:class:`EnsembleModel` takes the normalised input of the first member, gives every member its own
normalisation, applies each member's temperature and averages the probabilities; it returns their logarithm,
so that :func:`medclass.inference.decision.probabilities` at temperature 1 gives back exactly the average
(``softmax(log p) = p`` when ``p`` sums to 1). Being a plain ``nn.Module`` with a checkpoint of the usual shape
(``state_dict`` + ``medclass`` metadata, ``model.name = "ensemble"``), it goes through
:class:`medclass.inference.Predictor` like any model: evaluate, predict, explain, export and serve need nothing
of their own.

Members must share the classes (same names, same order) and the preprocessing (image size, channels, resize,
crop, window); only the normalisation statistics may differ.

Multi-label members (all of them, or none) are averaged label by label: the mean of their sigmoid probabilities
(each member's at its own per-label temperatures, ``label_temperatures``; an ensemble saved before them: 1),
returned as its logit ``log p - log(1 - p)``, so that the multi-label decision's sigmoid gives back the average;
the ensemble's own per-label thresholds are chosen on val afterwards (``ModelSpec.multilabel``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from medclass.inference.decision import Decision, LabelRule, MultilabelDecision
from medclass.inference.spec import ModelSpec
from medclass.inference.torch_decision import torch_label_probabilities, torch_probabilities
from medclass.models import create_model
from medclass.utils.errors import ConfigError, DataError
from medclass.utils.io import atomic_write

ENSEMBLE_MODEL = "ensemble"
_EPS = 1e-12
_LABEL_EPS = 1e-7  # keeps a float32 mean probability strictly inside (0, 1), so its logit is finite


class EnsembleModel(nn.Module):
    """Log of the mean calibrated probability of ``members``, or for multi-label members the logit of their
    mean per-label probability (see the module docstring)."""

    medclass_head = None  # no single classifier head

    def __init__(self, members: Sequence[nn.Module], args: dict[str, Any]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        channels = int(args["in_chans"])

        def stats(values: Sequence[float]) -> torch.Tensor:
            return torch.as_tensor(values, dtype=torch.float32).reshape(1, channels, 1, 1)

        self.register_buffer("input_mean", stats(args["input_mean"]), persistent=False)
        self.register_buffer("input_std", stats(args["input_std"]), persistent=False)
        self.register_buffer(
            "member_mean", torch.stack([stats(m) for m in args["member_mean"]]), persistent=False
        )
        self.register_buffer(
            "member_std", torch.stack([stats(s) for s in args["member_std"]]), persistent=False
        )
        self.register_buffer(
            "temperatures", torch.as_tensor(args["temperatures"], dtype=torch.float32), persistent=False
        )
        n_outputs = int(args.get("num_classes", 1))
        label_temperatures = args.get("label_temperatures") or [[1.0] * n_outputs for _ in args["members"]]
        self.register_buffer(
            "label_temperatures",
            torch.as_tensor(label_temperatures, dtype=torch.float32).reshape(len(args["members"]), 1, -1),
            persistent=False,
        )
        self.one_logit = [int(m.get("num_classes", 2)) == 1 for m in args["members"]]
        self.multilabel = bool(args.get("multilabel", False))
        self.medclass_args = dict(args)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raw = x * self.input_std + self.input_mean
        total = torch.zeros((), dtype=x.dtype, device=x.device)
        for k, member in enumerate(self.members):
            logits = member((raw - self.member_mean[k]) / self.member_std[k]).float()
            if self.multilabel:
                total = total + torch_label_probabilities(logits, self.label_temperatures[k])
            else:
                total = total + torch_probabilities(logits, self.temperatures[k], self.one_logit[k])
        mean = total / len(self.members)
        if self.multilabel:
            mean = mean.clamp(_LABEL_EPS, 1 - _LABEL_EPS)
            return torch.log(mean) - torch.log1p(-mean)
        return torch.log(mean.clamp_min(_EPS))


def is_ensemble(model_args: dict[str, Any]) -> bool:
    """Whether checkpoint model arguments describe an :class:`EnsembleModel`."""
    return model_args.get("name") == ENSEMBLE_MODEL


def build_ensemble(args: dict[str, Any], members: Sequence[nn.Module] | None = None) -> EnsembleModel:
    """The ensemble of checkpoint model arguments (members built with random weights unless given)."""
    built = list(members) if members is not None else [create_model(**m) for m in args["members"]]
    return EnsembleModel(built, args)


def combine(
    members: Sequence[tuple[nn.Module, ModelSpec]], sources: Sequence[str]
) -> tuple[EnsembleModel, ModelSpec]:
    """One model and its ``ModelSpec`` from ``(model, meta)`` pairs (``sources`` name them in errors).

    Raises:
        DataError: members with different classes; ConfigError: different preprocessing or fewer than two.
    """
    if len(members) < 2:
        raise ConfigError(f"an ensemble needs at least two runs, got {len(members)}")
    first = members[0][1]
    for (_, meta), source in zip(members[1:], sources[1:], strict=True):
        if meta.is_multilabel != first.is_multilabel:
            kinds = (
                ("a multi-label", "a single-label")
                if first.is_multilabel
                else ("a single-label", "a multi-label")
            )
            raise ConfigError(
                f"ensemble: {sources[0]} is {kinds[0]} model and {source} {kinds[1]} one; ensemble runs of one "
                "task type"
            )
        if list(meta.classes) != list(first.classes):
            raise DataError(
                f"{source}: classes {list(meta.classes)} differ from those of {sources[0]} {list(first.classes)}; "
                "an ensemble averages runs of the same classes"
            )
        if meta.preprocess.settings != first.preprocess.settings:
            raise ConfigError(
                f"{source}: preprocessing {meta.preprocess.settings.to_dict()} differs from that of "
                f"{sources[0]} {first.preprocess.settings.to_dict()}; ensemble runs of the same image size, "
                "channels and resize"
            )
    args = {
        "name": ENSEMBLE_MODEL,
        "num_classes": len(first.classes),
        "in_chans": first.preprocess.channels,
        "members": [dict(meta.model) for _, meta in members],
        "sources": [str(s) for s in sources],
        "temperatures": [float(meta.decision.temperature) for _, meta in members],
        "input_mean": list(first.preprocess.mean),
        "input_std": list(first.preprocess.std),
        "member_mean": [list(meta.preprocess.mean) for _, meta in members],
        "member_std": [list(meta.preprocess.std) for _, meta in members],
    }
    if first.is_multilabel:
        args["multilabel"] = True
        args["label_temperatures"] = [meta.multilabel.temperatures.tolist() for _, meta in members]
    model = build_ensemble(args, [m for m, _ in members]).eval()
    spec = ModelSpec(
        model=args,
        classes=list(first.classes),
        preprocess=first.preprocess,
        # The members' temperatures (per label for multi-label members) are inside the model; the ensemble's own
        # threshold is fitted on val after.
        decision=Decision(positive_class=first.positive_class),
        # A multi-label ensemble's per-label thresholds are chosen on val after (0.5 until then).
        multilabel=MultilabelDecision({name: LabelRule() for name in first.classes})
        if first.is_multilabel
        else None,
        config={**first.config, "model": {**first.config.get("model", {}), "name": ENSEMBLE_MODEL}},
        versions=first.versions,
    )
    return model, spec


def save_ensemble(path: str | Path, model: EnsembleModel, meta: ModelSpec) -> Path:
    """Write the ensemble as a medclass checkpoint (``state_dict`` with ``model.`` keys + ``medclass`` meta)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
        "medclass": meta.to_dict(),
    }
    with atomic_write(path, "wb") as handle:
        torch.save(state, handle)
    return path
