"""The default explanation of the DenseNet and ViT families, on the default path (issue 27).

BENCHMARKS.md, "Explanations: the four measures", chose each family's default method on models trained on the
4-class brain MRI set. Here a tiny model of each family learns the 64 px phantoms (a bright lesion makes the
``tumor`` class); planned as ``medclass explain`` plans with no method or layer named, its explanation must be
the family's default at the layer the resolution rule picks, and that map must pass the full model
randomisation of ``--sanity`` (median Spearman <= 0.3): the default map depends on what the model learnt.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from medclass.explain.methods import FAMILY_METHODS, default_method, model_family, plan_explanation
from medclass.explain.quality import Candidate
from medclass.explain.sanity import SPEARMAN_LIMIT, model_randomisation
from medclass.inference.inputs import load_images
from medclass.inference.spec import ModelSpec
from medclass.models import create_model

SIZE = 64
META = ModelSpec(
    model={},
    classes=["no_tumor", "tumor"],
    preprocess={"settings": {"image_size": SIZE, "channels": 1}, "mean": [0.5], "std": [0.25]},
)


def _tiny_densenet() -> nn.Module:
    """A torchvision DenseNet (the class ``model_family`` tells apart) with four small blocks, one channel."""
    model = torchvision.models.DenseNet(
        growth_rate=8, block_config=(2, 2, 2, 2), num_init_features=16, num_classes=2
    )
    model.features.conv0 = nn.Conv2d(1, 16, kernel_size=7, stride=2, padding=3, bias=False)
    return model


def _tiny_vit() -> nn.Module:
    kwargs = {"patch_size": 8, "depth": 4, "embed_dim": 32, "num_heads": 2}
    return create_model("timm:vit_tiny_patch16_224", num_classes=2, in_chans=1, image_size=SIZE, **kwargs)


def _fit(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, epochs: int) -> nn.Module:
    """A few epochs of Adam on the phantoms (the trainer's run folder is not what this test is about)."""
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(inputs), generator=torch.Generator().manual_seed(0)).split(16):
            loss = nn.functional.cross_entropy(model(inputs[batch]), labels[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model.eval()


@pytest.fixture(scope="module")
def phantoms(phantom_data: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The session's 64 px phantoms as model inputs, and their labels (1: tumor)."""
    files = sorted(str(p) for p in phantom_data.glob("*/*.png"))
    images = load_images(files, META)
    labels = torch.tensor([META.classes.index(Path(f).parent.name) for f in files])
    return images.tensor(range(len(images.rows)), META), labels


@pytest.mark.parametrize(
    ("family", "build", "epochs", "layer"),
    [
        ("densenet", _tiny_densenet, 3, "features.denseblock1"),
        ("vit", _tiny_vit, 6, "blocks.3.norm1"),
    ],
)
def test_the_default_explanation_of_the_family_passes_the_randomisation_check(
    phantoms: tuple[torch.Tensor, torch.Tensor], family: str, build, epochs: int, layer: str
) -> None:
    inputs, labels = phantoms
    torch.manual_seed(0)
    model = _fit(build(), inputs, labels, epochs)
    assert model_family(model) == family
    with torch.no_grad():
        accuracy = (model(inputs).argmax(dim=1) == labels).float().mean().item()
    assert accuracy >= 0.9, "the model must learn the phantoms before its maps mean anything"
    # What ``medclass explain`` does with no method or layer named (the report's error panel and the serve page
    # plan the same way), and the maps its ``--sanity`` compares, without the cascade and the files.
    plan = plan_explanation(model, META, default_method(model), "tumor", None)
    assert (plan.method, plan.layer_name) == (FAMILY_METHODS[family], layer)
    lesions = inputs[labels == 1][:6]
    maps_of = Candidate(plan.method, plan.layer_name).maps_function(SIZE)
    rows = model_randomisation(model, lesions, [1] * len(lesions), maps_of, cascading=False)
    assert [row.check for row in rows] == ["full"]
    full = rows[0].summary()
    assert full["n"] == 3 * len(lesions) and full["median_spearman"] <= SPEARMAN_LIMIT, full
