"""Each explanation method computes what its paper defines, and not what another method does.

References written here from the papers, independent of pytorch-grad-cam and captum: at a layer with the input's
resolution (the custom CNN's ``features.block1.act``, before its pooling) a CAM needs no resizing, so each
library map must equal its own formula (after the library's min-max scaling) and differ from the others'.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from medclass.explain.methods import ContrastiveScores, default_method, explanation_maps, model_family
from medclass.explain.sanity import spearman
from medclass.explain.targets import TargetScores, resolve_target_layer
from medclass.models import create_model

LAYER = "features.block1.act"
SIZE = 24


@pytest.fixture(scope="module")
def model() -> nn.Module:
    torch.manual_seed(0)
    cnn = {"blocks": [{"out_channels": 6}, {"out_channels": 8}], "dense": [8]}
    return create_model("cnn", num_classes=3, in_chans=1, image_size=SIZE, cnn=cnn).eval()


@pytest.fixture(scope="module")
def inputs() -> torch.Tensor:
    return torch.randn(3, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(1))


def _scaled(cam: torch.Tensor) -> np.ndarray:
    """pytorch-grad-cam's per-image scaling: minus the minimum, over the maximum."""
    cam = cam - cam.amin(dim=(1, 2), keepdim=True)
    return (cam / (1e-7 + cam.amax(dim=(1, 2), keepdim=True))).detach().numpy()


def _activations_and_gradients(model: nn.Module, x: torch.Tensor, targets: list[int]):
    store = {}
    layer = dict(model.named_modules())[LAYER]
    handle = layer.register_forward_hook(lambda m, a, out: store.update(a=out))
    try:
        scores = TargetScores(model)(x)
    finally:
        handle.remove()
    chosen = scores[torch.arange(len(targets)), torch.tensor(targets)].sum()
    (gradient,) = torch.autograd.grad(chosen, store["a"])
    return store["a"].detach(), gradient


def reference_cams(model: nn.Module, x: torch.Tensor, targets: list[int]) -> dict[str, np.ndarray]:
    """Grad-CAM (Selvaraju et al. 2017), HiResCAM (Draelos & Carin 2020), LayerCAM (Jiang et al. 2021)."""
    a, g = _activations_and_gradients(model, x, targets)
    return {
        "gradcam": _scaled(torch.relu((g.mean(dim=(2, 3), keepdim=True) * a).sum(dim=1))),
        "hirescam": _scaled(torch.relu((g * a).sum(dim=1))),
        "layercam": _scaled(torch.relu((torch.relu(g) * a).sum(dim=1))),
    }


def reference_attributions(model: nn.Module, x: torch.Tensor, targets: list[int]) -> dict[str, np.ndarray]:
    """Vanilla-gradient saliency (Simonyan et al. 2014) and integrated gradients (Sundararajan et al. 2017,
    a 256-step midpoint Riemann sum from a zero baseline)."""
    head, index = TargetScores(model), torch.arange(len(targets))
    x = x.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(head(x)[index, torch.tensor(targets)].sum(), x)
    steps = 256
    total = torch.zeros_like(x)
    for k in range(steps):
        point = ((k + 0.5) / steps * x.detach()).requires_grad_(True)
        (step,) = torch.autograd.grad(head(point)[index, torch.tensor(targets)].sum(), point)
        total += step
    return {
        "saliency": gradient.abs().amax(dim=1).numpy(),
        "integrated-gradients": (x.detach() * total / steps).sum(dim=1).numpy(),
    }


def test_each_cam_matches_its_own_formula_and_not_the_others(model: nn.Module, inputs: torch.Tensor) -> None:
    targets = [0, 1, 2]
    layer = resolve_target_layer(model, LAYER)
    references = reference_cams(model, inputs, targets)
    for method, reference in references.items():
        maps = explanation_maps(model, inputs, targets, method, layer)[0]
        np.testing.assert_allclose(maps, reference, rtol=5e-3, atol=1e-3, err_msg=method)
        for other, other_reference in references.items():
            if other != method:
                assert np.abs(maps - other_reference).max() > 0.05, f"{method} equals {other}'s formula"


def test_each_pixel_attribution_matches_its_own_formula(model: nn.Module, inputs: torch.Tensor) -> None:
    targets = [2, 0, 1]
    references = reference_attributions(model, inputs, targets)
    saliency = explanation_maps(model, inputs, targets, "saliency", None)[0]
    np.testing.assert_allclose(saliency, references["saliency"], rtol=1e-4, atol=1e-6)
    integrated = explanation_maps(model, inputs, targets, "integrated-gradients", None)[0]
    for i in range(len(targets)):
        assert spearman(integrated[i], references["integrated-gradients"][i]) > 0.99
        assert abs(spearman(integrated[i], references["saliency"][i])) < 0.9


@pytest.mark.parametrize("layer_name", [LAYER, "features.block2.act"])
def test_every_method_gives_a_different_map_on_the_same_input_and_layer(
    model: nn.Module, inputs: torch.Tensor, layer_name: str
) -> None:
    targets = [0, 1, 2]
    layer = resolve_target_layer(model, layer_name)
    methods = ["gradcam", "gradcam++", "hirescam", "layercam", "scorecam", "eigencam", "saliency"]
    maps = {m: explanation_maps(model, inputs, targets, m, layer if "cam" in m else None)[0] for m in methods}
    for i, first in enumerate(methods):
        for second in methods[i + 1 :]:
            assert not np.allclose(maps[first], maps[second], atol=1e-3), f"{first} and {second} coincide"


def test_targets_and_the_contrastive_map_differ(model: nn.Module, inputs: torch.Tensor) -> None:
    layer = resolve_target_layer(model, "features.block2.act")
    first = explanation_maps(model, inputs, [0, 0, 0], "gradcam", layer)[0]
    second = explanation_maps(model, inputs, [1, 1, 1], "gradcam", layer)[0]
    assert all(spearman(a, b) < 0.95 for a, b in zip(first, second, strict=True))
    # "0 rather than 1" is the Grad-CAM of the logit difference, itself neither class's own map.
    contrast = explanation_maps(ContrastiveScores(model, 1), inputs, [0, 0, 0], "gradcam", layer)[0]
    for a, b, c in zip(first, second, contrast, strict=True):
        assert not np.allclose(c, a, atol=1e-3) and not np.allclose(c, b, atol=1e-3)
    with torch.no_grad():
        logits = model(inputs)
        assert torch.allclose(ContrastiveScores(model, 1)(inputs)[:, 0], logits[:, 0] - logits[:, 1])


@pytest.mark.parametrize(
    ("name", "family", "method"),
    [
        ("resnet18", "resnet", "gradcam"),
        ("cnn", "cnn", "gradcam"),
        ("densenet121", "densenet", "gradcam"),
        ("efficientnet_b0", "efficientnet", "gradcam"),
        ("timm:vit_tiny_patch16_224", "vit", "gradcam"),
    ],
)
def test_the_default_method_follows_the_family_the_table_measured(
    name: str, family: str, method: str
) -> None:
    kwargs = (
        {"patch_size": 8, "depth": 1, "embed_dim": 16, "num_heads": 1} if name.startswith("timm:") else {}
    )
    model = create_model(name, num_classes=2, in_chans=1, image_size=32, **kwargs)
    assert model_family(model) == family
    assert default_method(model) == method  # BENCHMARKS.md, "Explanations: the four measures"
