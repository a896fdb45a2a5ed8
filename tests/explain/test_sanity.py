"""Sanity checks (Adebayo et al. 2018), faithfulness against random order, the body outline and readability.

A 3-block CNN learns 64 px phantoms (the ``tumor`` class adds one bright lesion); a second one learns the same
images with the labels shuffled. The checks must have teeth: an edge filter of the input, which ignores the
model, fails the randomisation checks, while the CAM of the trained model passes them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision

from medclass.api import train
from medclass.cli.app import run_app
from medclass.config import build_config
from medclass.data.body_mask import body_mask, energy_inside
from medclass.data.synthetic import make_phantom_dataset
from medclass.explain.faithfulness import mean_ci, random_order_gap
from medclass.explain.quality import EDGE_FILTER, Candidate
from medclass.explain.readability import lattice_energy, readability, tv_ratio
from medclass.explain.sanity import (
    SANITY_COLUMNS,
    data_randomisation,
    edge_filter_maps,
    model_randomisation,
    parameter_blocks,
    randomise,
    spearman,
    ssim,
)
from medclass.inference.checkpoint import load_for_inference
from medclass.inference.inputs import load_images

SANITY_CONFIG = {
    "seed": 0,
    "data": {"image_size": 64, "batch_size": 32},
    "split": {"strategy": "stratified", "val_frac": 0.15, "test_frac": 0.25},
    "model": {
        "name": "cnn",
        "cnn": {"blocks": [{"out_channels": 8}, {"out_channels": 16}, {"out_channels": 32}], "dense": [32]},
    },
    "optim": {"lr": 0.003},
    "augment": {"preset": "light"},
    "trainer": {"epochs": 6, "patience": None, "progress_bar": False},
    "evaluation": {"bootstrap": 0, "report": False},
}


def _shuffled_copy(data: Path, out: Path, seed: int = 0) -> Path:
    """The same images with the labels shuffled (each file moved to a random class folder, counts kept)."""
    files = sorted(data.glob("*/*.png"))
    labels = [f.parent.name for f in files]
    np.random.default_rng(seed).shuffle(labels)
    for file, label in zip(files, labels, strict=True):
        (out / label).mkdir(parents=True, exist_ok=True)
        shutil.copy(file, out / label / f"{file.parent.name}_{file.name}")
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The trained run, the shuffled-labels run and the images to explain (lesion images of another seed)."""
    root = tmp_path_factory.mktemp("sanity")
    data = make_phantom_dataset(root / "data", n_per_class=150, size=64, seed=11)
    result = train(build_config(SANITY_CONFIG, [], {"data.path": str(data), "out": str(root / "run")}))
    assert result.test_metrics["accuracy"] >= 0.9, "the CNN must learn the task before its maps mean anything"
    shuffled = _shuffled_copy(data, root / "shuffled")
    train(build_config(SANITY_CONFIG, [], {"data.path": str(shuffled), "out": str(root / "shuffled_run")}))
    probe = make_phantom_dataset(root / "probe", n_per_class=6, size=64, seed=5)
    return {"run": root / "run", "shuffled": root / "shuffled_run", "probe": probe}


@pytest.fixture(scope="module")
def batch(runs: dict[str, Path]) -> tuple:
    model, meta = load_for_inference(runs["run"])
    shuffled = load_for_inference(runs["shuffled"])[0].eval()
    files = sorted(str(p) for p in (runs["probe"] / "tumor").glob("*.png"))
    images = load_images(files, meta)
    inputs = images.tensor(range(len(files)), meta)
    targets = [meta.classes.index("tumor")] * len(files)
    return model.eval(), shuffled, inputs, targets, images


def test_spearman_and_ssim_of_maps() -> None:
    rng = np.random.default_rng(0)
    a = rng.random((32, 32))
    assert spearman(a, a) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)
    assert spearman(a, np.zeros_like(a)) == 0.0  # a constant map ranks nothing
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, 3 * a + 1) == pytest.approx(1.0)  # both are scaled to [0, 1] first
    assert ssim(a, rng.random((32, 32))) < 0.2
    with pytest.raises(ValueError, match="cannot be compared"):
        spearman(a, a[:8])


def test_parameter_blocks_run_from_the_output_down() -> None:
    model = torchvision.models.resnet18(num_classes=4)
    names = [name for name, _ in parameter_blocks(model)]
    assert names == ["fc", "layer4", "layer3", "layer2", "layer1", "bn1", "conv1"]


def test_randomise_changes_every_parameter_and_is_seeded() -> None:
    model = torchvision.models.resnet18(num_classes=4)
    model.layer4[0].bn1.running_mean.fill_(3.0)
    before = {k: v.clone() for k, v in model.layer4.state_dict().items()}
    randomise(model.layer4, torch.Generator().manual_seed(1))
    after = model.layer4.state_dict()
    weights = [k for k in before if k.endswith("conv1.weight") or k.endswith("conv2.weight")]
    assert weights and all(not torch.equal(before[k], after[k]) for k in weights)
    assert torch.count_nonzero(after["0.bn1.running_mean"]) == 0  # the running statistics are forgotten too
    again = torchvision.models.resnet18(num_classes=4)
    randomise(again.layer4, torch.Generator().manual_seed(1))
    assert all(torch.equal(after[k], again.layer4.state_dict()[k]) for k in weights)


def test_the_edge_filter_fails_and_the_trained_cam_passes_the_randomisation_checks(batch: tuple) -> None:
    model, shuffled, inputs, targets, _ = batch
    edge = model_randomisation(model, inputs, targets, edge_filter_maps)
    assert [row.check for row in edge] == ["cascading"] * len(parameter_blocks(model)) + ["full"]
    full = edge[-1].summary()
    assert full["median_spearman"] == pytest.approx(1.0) and full["median_ssim"] == pytest.approx(1.0)
    assert not full["passes"], "a map that ignores the model must fail the check"
    assert not data_randomisation(model, shuffled, inputs, targets, edge_filter_maps).summary()["passes"]

    # Grad-CAM of the trained CNN depends on its weights and on what it learnt (measured on this set: median
    # Spearman 0.29 after full randomisation, 0.38 against the shuffled-labels model; the edge filter: 1.0).
    maps_of = Candidate("gradcam").maps_function(64)
    rows = model_randomisation(model, inputs, targets, maps_of)
    assert rows[-1].summary()["median_spearman"] < 0.5, rows[-1].summary()
    assert data_randomisation(model, shuffled, inputs, targets, maps_of).summary()["median_spearman"] < 0.6
    # The model itself is left as it was: the same maps before and after the check.
    assert np.array_equal(maps_of(model, inputs, targets), maps_of(model, inputs, targets))


def test_a_map_on_the_lesion_beats_random_order(batch: tuple) -> None:
    model, _, inputs, targets, _ = batch
    maps = Candidate("gradcam").maps_function(64)(model, inputs, targets)
    gap = random_order_gap(model, inputs, maps, targets)
    mean, low, high = mean_ci(gap.deletion_gap)
    assert low > 0 and low <= mean <= high, (mean, low, high)


def test_mean_ci_is_seeded_and_brackets_the_mean() -> None:
    values = np.random.default_rng(3).normal(1.0, 0.5, 40)
    first, second = mean_ci(values), mean_ci(values)
    assert first == second and first[1] < first[0] < first[2]
    with pytest.raises(ValueError):
        mean_ci([])


def test_body_mask_and_energy_inside() -> None:
    image = np.zeros((32, 32), np.uint8)
    image[8:24, 8:24] = 200
    image[14:18, 14:18] = 0  # a dark hole inside the body is still body
    mask = body_mask(image)
    assert mask[16, 16] and mask[8:24, 8:24].all() and mask.sum() == 16 * 16
    inside, outside = np.zeros((32, 32)), np.zeros((32, 32))
    inside[10, 10], outside[0, 0] = 1.0, 1.0
    assert energy_inside(inside, mask) == 1.0 and energy_inside(outside, mask) == 0.0
    assert energy_inside(np.zeros((32, 32)), mask) == pytest.approx(mask.mean())


def test_readability_flags_a_lattice_not_a_smooth_map() -> None:
    yy, xx = np.mgrid[0:64, 0:64]
    blob = np.exp(-((yy - 30) ** 2 + (xx - 20) ** 2) / (2 * 8.0**2))
    lattice = blob * ((yy % 8 < 2) & (xx % 8 < 2))  # dots every 8 px: the stride pattern of a layer
    assert lattice_energy(blob, 8) < 0.05 < 0.3 < lattice_energy(lattice, 8)
    assert tv_ratio(blob, 8) < 1.5 < 3.0 < tv_ratio(lattice, 8)
    assert readability([lattice], 4)["lattice_energy"] > readability([blob], 4)["lattice_energy"]


def test_explain_sanity_writes_its_table(runs: dict[str, Path], tmp_path: Path, capsys) -> None:
    images = sorted(str(p) for p in (runs["probe"] / "tumor").glob("*.png"))
    out = tmp_path / "sanity"
    args = [
        "explain",
        str(runs["run"]),
        *images,
        "--method",
        "gradcam",
        "--target",
        "tumor",
        "--out",
        str(out),
    ]
    assert run_app([*args, "--sanity", "--shuffled-model", str(runs["shuffled"])]) == 0
    table = pd.read_csv(out / "sanity.csv")
    assert list(table.columns) == SANITY_COLUMNS
    model = load_for_inference(runs["run"])[0]
    assert list(table["check"]) == ["cascading"] * len(parameter_blocks(model)) + ["full", "data"]
    assert list(table["n"]) == [len(images)] * (len(table) - 2) + [3 * len(images), len(images)]
    full = table[table["check"] == "full"].iloc[0]
    assert full["median_spearman"] < 0.5 and bool(full["passes"]) == (full["median_spearman"] <= 0.3)
    printed = " ".join(capsys.readouterr().out.split())
    assert f"sanity (model randomisation, full): median Spearman {full['median_spearman']:.2f}" in printed
    assert "sanity (data randomisation): median Spearman" in printed
    assert len(pd.read_csv(out / "explanations.csv")) == len(images)  # the explanations are written as before
    # Bad input: one line and exit 2.
    assert run_app([*args[:-1], str(tmp_path / "a"), "--shuffled-model", str(runs["shuffled"])]) == 2
    assert "--shuffled-model: applies to the sanity check" in capsys.readouterr().err


def test_edge_filter_candidate_is_the_control(batch: tuple) -> None:
    model, _, inputs, targets, _ = batch
    maps = Candidate.parse(EDGE_FILTER).maps_function(64)(model, inputs, targets)
    assert maps.shape == (inputs.shape[0], 64, 64) and np.isfinite(maps).all()
    assert Candidate.parse("gradcam@features.block2.act") == Candidate("gradcam", "features.block2.act")
