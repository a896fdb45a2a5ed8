"""Helpers that reshape a network for medclass: the input conv, the classifier head and freezing.

Every model built by :func:`medclass.models.create_model` names its classifier head (the final layer that maps
features to class scores) in ``model.medclass_head``; timm models answer ``model.get_classifier()``. The head
is what :func:`freeze_backbone` keeps trainable and what a weight loader may skip when the class count differs.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

# Attribute on a BatchNorm layer that freeze_backbone sets: keep it in eval mode even after model.train().
_KEEP_EVAL = "_medclass_keep_eval"
_HOOKED = "_medclass_eval_hook"


class DropoutLinear(nn.Linear):
    """A Linear layer that applies dropout to its input.

    The dropout lives inside the layer, so the state-dict keys are those of a plain ``nn.Linear``
    (``weight``, ``bias``): torchvision/timm weights and medclass checkpoints load whatever the drop rate.
    The same trick as timm's ResNet, which applies ``drop_rate`` in ``forward_head`` instead of adding a module.

    Args:
        in_features: input width.
        out_features: output width (number of classes).
        drop_rate: dropout probability on the input (0: no dropout).
    """

    def __init__(
        self, in_features: int, out_features: int, drop_rate: float = 0.0, bias: bool = True
    ) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.drop = nn.Dropout(drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(self.drop(x))

    @classmethod
    def from_linear(cls, linear: nn.Linear, drop_rate: float) -> DropoutLinear:
        """Wrap an existing Linear, keeping its (initialised) weight and bias."""
        layer = cls(linear.in_features, linear.out_features, drop_rate, bias=linear.bias is not None)
        layer.to(device=linear.weight.device, dtype=linear.weight.dtype)
        with torch.no_grad():
            layer.weight.copy_(linear.weight)
            if linear.bias is not None:
                layer.bias.copy_(linear.bias)
        return layer


def find_input_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    """The first ``Conv2d`` in registration order: the layer that sees the image in every supported model.

    Raises:
        ValueError: if the model has no Conv2d.
    """
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module
    raise ValueError(f"{type(model).__name__} has no Conv2d layer to adapt to the input channels")


def adapt_input_conv(in_chans: int, weight: torch.Tensor) -> torch.Tensor:
    """Turn an RGB first-conv weight ``(out, 3, kh, kw)`` into one for ``in_chans`` input channels.

    - 1 channel: the sum over R, G, B. A gray image fed to an RGB net is R = G = B, so the summed kernel gives
      exactly the response the pretrained net gave to the gray image copied into three channels, at a third of
      the first layer's cost (timm's ``adapt_input_conv`` does the same).
    - 3 channels: unchanged.
    - other counts: R, G, B repeated cyclically (R, G, B, R, G for 5), scaled by ``3 / in_chans`` so the first
      layer's output keeps about the same magnitude (exactly, for a constant image, when ``in_chans`` is a
      multiple of 3).

    Args:
        in_chans: channels of the new input.
        weight: the pretrained kernel; its dtype is kept (the arithmetic runs in float32).

    Returns:
        A new tensor ``(out, in_chans, kh, kw)``.

    Raises:
        ValueError: if the weight is not 4-D, or has a channel count other than 3 and ``in_chans`` differs.

    Example:
        >>> adapt_input_conv(1, torch.ones(8, 3, 3, 3)).shape
        torch.Size([8, 1, 3, 3])
    """
    if weight.ndim != 4:
        raise ValueError(f"expected a conv weight (out, in, kh, kw), got shape {tuple(weight.shape)}")
    have = weight.shape[1]
    if in_chans == have:
        return weight.clone()
    if have != 3:
        raise ValueError(f"cannot adapt a first conv with {have} input channels to {in_chans} (only from 3)")
    dtype = weight.dtype
    w = weight.float()
    if in_chans == 1:
        w = w.sum(dim=1, keepdim=True)
    else:
        repeats = math.ceil(in_chans / 3)
        w = w.repeat(1, repeats, 1, 1)[:, :in_chans] * (3.0 / in_chans)
    return w.to(dtype)


def replace_input_conv(model: nn.Module, in_chans: int, weight: torch.Tensor | None = None) -> nn.Conv2d:
    """Replace the model's first conv with one taking ``in_chans`` channels.

    Args:
        model: the network (changed in place).
        in_chans: new number of input channels.
        weight: kernel for the new conv; by default the old conv's own (random) initialisation is sliced or
            repeated to ``in_chans``, which keeps the per-weight distribution of the model's init scheme.
            Pass ``adapt_input_conv(in_chans, pretrained_weight)`` for pretrained weights.

    Returns:
        The new conv layer.
    """
    name, old = find_input_conv(model)
    if old.in_channels == in_chans and weight is None:
        return old
    if old.groups != 1:
        raise ValueError(
            f"first conv {name} is grouped ({old.groups} groups); cannot change its input channels"
        )
    new = nn.Conv2d(
        in_chans,
        old.out_channels,
        kernel_size=old.kernel_size,
        stride=old.stride,
        padding=old.padding,
        dilation=old.dilation,
        bias=old.bias is not None,
        padding_mode=old.padding_mode,
    ).to(device=old.weight.device, dtype=old.weight.dtype)
    with torch.no_grad():
        if weight is None:
            repeats = math.ceil(in_chans / old.in_channels)
            weight = old.weight.repeat(1, repeats, 1, 1)[:, :in_chans]
        new.weight.copy_(weight)
        if old.bias is not None:
            new.bias.copy_(old.bias)
    model.set_submodule(name, new)
    return new


def get_classifier(model: nn.Module) -> nn.Module:
    """The classifier head: the final layer mapping features to class scores.

    Resolution order: the ``medclass_head`` name that :func:`~medclass.models.create_model` records, timm's
    ``get_classifier()``, then the last ``nn.Linear`` of the model.

    Raises:
        ValueError: if none is found.
    """
    head_name = getattr(model, "medclass_head", None)
    if isinstance(head_name, str):
        return model.get_submodule(head_name)
    timm_get = getattr(model, "get_classifier", None)
    if callable(timm_get):
        head = timm_get()
        if isinstance(head, nn.Module):
            return head
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"cannot find the classifier head of {type(model).__name__}")
    return linears[-1]


def classifier_name(model: nn.Module) -> str:
    """Qualified name of :func:`get_classifier`'s module inside ``model`` (e.g. ``fc``, ``classifier.6``)."""
    head = get_classifier(model)
    for name, module in model.named_modules():
        if module is head:
            return name
    raise ValueError(f"the classifier head of {type(model).__name__} is not one of its submodules")


def _stay_in_eval(module: nn.Module, args: tuple) -> None:
    """Forward pre-hook of a frozen BatchNorm: undo a ``model.train()`` call before each forward."""
    if getattr(module, _KEEP_EVAL, False) and module.training:
        module.train(False)


def freeze_backbone(model: nn.Module, frozen: bool = True, bn_eval: bool = True) -> None:
    """Train only the classifier head (``frozen=True``) or everything again (``frozen=False``).

    Sets ``requires_grad`` to False on every parameter outside :func:`get_classifier`'s module.

    BatchNorm choice: with ``bn_eval=True`` (default) the BatchNorm layers of the frozen part stay in eval mode,
    normalising with their stored running statistics, even when the trainer calls ``model.train()`` each epoch
    (a forward pre-hook puts them back). The frozen backbone is then a fixed feature extractor: its output for
    an image does not depend on the batch, and its statistics do not drift with small or unbalanced batches
    (timm's ``freeze`` turns BN into ``FrozenBatchNorm2d`` for the same reason). ``bn_eval=False`` lets them
    normalise with batch statistics and update their running statistics to the new images.

    Args:
        model: the network (changed in place).
        frozen: True to freeze the backbone, False to make every parameter trainable again.
        bn_eval: keep the frozen part's BatchNorm layers in eval mode (see above).

    Example:
        >>> freeze_backbone(model)          # linear probe
        >>> freeze_backbone(model, False)   # fine-tune everything (e.g. after a few epochs)
    """
    head = get_classifier(model)
    head_params = {id(p) for p in head.parameters()}
    head_modules = {id(m) for m in head.modules()}
    for param in model.parameters():
        param.requires_grad_(not frozen or id(param) in head_params)
    for module in model.modules():
        if not isinstance(module, _BatchNorm) or id(module) in head_modules:
            continue
        keep_eval = frozen and bn_eval
        setattr(module, _KEEP_EVAL, keep_eval)
        if keep_eval:
            if not getattr(module, _HOOKED, False):
                module.register_forward_pre_hook(_stay_in_eval)
                setattr(module, _HOOKED, True)
            module.train(False)
        else:
            module.train(model.training)
