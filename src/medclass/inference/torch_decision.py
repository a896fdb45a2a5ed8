"""The torch twin of :func:`medclass.inference.decision.probabilities`, for the places where probabilities must
stay in a torch graph: the ensemble's forward pass (so that export traces it), the training step's metrics and
the explanation scores that take gradients. Tests keep it equal to the numpy rule."""

from __future__ import annotations

import torch


def torch_probabilities(
    logits: torch.Tensor, temperature: float | torch.Tensor = 1.0, one_logit: bool | None = None
) -> torch.Tensor:
    """``(N, K)`` probabilities of ``(N, K)`` logits: softmax of ``logits / temperature``, or for one logit
    ``[1 - sigmoid(z / T), sigmoid(z / T)]``.

    ``one_logit`` None: decided by the logits' width; a traced graph (the ensemble) fixes it per member so that
    the graph has no branch.
    """
    scaled = logits / temperature
    if logits.shape[1] == 1 if one_logit is None else one_logit:
        positive = torch.sigmoid(scaled)
        return torch.cat([1 - positive, positive], dim=1)
    return torch.softmax(scaled, dim=1)


def torch_label_probabilities(logits: torch.Tensor, temperatures: torch.Tensor | None = None) -> torch.Tensor:
    """``(N, K)`` independent per-label probabilities of a multi-label head: ``sigmoid(z / T_k)`` per column (the
    torch twin of :func:`medclass.inference.decision.label_probabilities`; no temperatures: ``sigmoid(z)``)."""
    return torch.sigmoid(logits if temperatures is None else logits / temperatures)
