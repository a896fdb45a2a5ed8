"""Localisation and faithfulness: the default explanation of the default model points at the lesion.

Phantom MRI slices (``medclass.data.synthetic``): the ``tumor`` class differs from ``no_tumor`` only by one
bright lesion at a random place, and ``lesions.csv`` holds its box.

- The default model (ResNet-18, default settings at 128 px, 6 epochs) explained the default way
  (``medclass.api.explain.explain`` with no method, layer or folder) must put its map's maximum within 3% of
  the side (3.8 px) of the lesion box for at least 80% of an independent set of lesion images (the pointing
  game). Grad-CAM at ResNet-18's last stage, the former default (a 4x4 grid at 128 px), got 13 of 40.
- A small custom CNN at 64 px passes the localisation check of ``medclass.api.explain``.
- Deletion/insertion curves rank a map that points at what a model uses above a map pointing elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from medclass.api import train
from medclass.api.explain import explain, localisation_check
from medclass.config import build_config
from medclass.data.synthetic import make_phantom_dataset
from medclass.explain import deletion_insertion, pointing_game
from medclass.explain.faithfulness import class_probability, pixel_order
from medclass.explain.localisation import distance_to_box, map_peak
from medclass.explain.methods import default_method
from medclass.inference.checkpoint import load_for_inference
from medclass.inference.inputs import eval_transform, load_images

LOCALISATION_CONFIG = {
    "seed": 0,
    "data": {"image_size": 64, "batch_size": 32},
    "split": {"strategy": "stratified", "val_frac": 0.15, "test_frac": 0.25},
    "model": {
        "name": "cnn",
        "cnn": {
            "blocks": [{"out_channels": 8}, {"out_channels": 16}, {"out_channels": 32}],
            "dense": [32],
            "dense_dropout": 0.2,
        },
    },
    "optim": {"lr": 0.003},
    "augment": {"preset": "light"},
    "trainer": {"epochs": 6, "patience": None, "progress_bar": False},
    "evaluation": {"bootstrap": 0, "report": False},
}
# The default model and settings; only the size, the epochs and what the test does not read are set.
DEFAULT_MODEL_CONFIG = {
    "seed": 0,
    "data": {"image_size": 128},
    "trainer": {"epochs": 6, "progress_bar": False},
    "evaluation": {"bootstrap": 0, "report": False},
}
SMALL_LESIONS = (0.03, 0.10)  # lesion radius as a fraction of the side
POINTING_TOLERANCE = 0.03  # of the side


@pytest.fixture(scope="module")
def localisation_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("localisation")
    data = make_phantom_dataset(root / "data", n_per_class=150, size=64, seed=11)
    config = build_config(LOCALISATION_CONFIG, [], {"data.path": str(data), "out": str(root / "run")})
    result = train(config)
    assert result.test_metrics["accuracy"] >= 0.9, "the CNN must learn the task before its maps mean anything"
    return root / "run", data


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The default model trained on 128 px phantoms with small lesions, and an independent probe set."""
    root = tmp_path_factory.mktemp("default-localisation")
    torch.set_num_threads(min(torch.get_num_threads(), 2))
    data = make_phantom_dataset(root / "data", n_per_class=150, size=128, seed=1, lesion_radius=SMALL_LESIONS)
    config = build_config(DEFAULT_MODEL_CONFIG, [], {"data.path": str(data), "out": str(root / "run")})
    assert config.model.name == "resnet18", "the test must train the default model"
    result = train(config)
    assert result.test_metrics["auroc"] >= 0.95, "the model must learn the task before its maps mean anything"
    probe = make_phantom_dataset(
        root / "probe", n_per_class=40, size=128, seed=123, lesion_radius=SMALL_LESIONS
    )
    return root / "run", probe


@pytest.mark.slow
def test_default_explanation_of_the_default_model_points_at_small_lesions(
    default_run: tuple[Path, Path],
) -> None:
    run, probe = default_run
    table = explain(run, [probe / "tumor"], target="tumor", faithfulness=True, sanity=True)
    out = run / "explanations" / default_method(load_for_inference(run)[0])
    # The sanity check (Adebayo et al. 2018): the default map changes when the weights are re-initialised.
    # Measured: Grad-CAM 0.11 on this set; LayerCAM, the former default, 0.52 (fails).
    full = pd.read_csv(out / "sanity.csv").set_index("check").loc["full"]
    assert full["median_spearman"] <= 0.3, full
    saved = pd.read_csv(out / "explanations.csv", keep_default_na=False)
    assert list(saved["path"]) == list(table["path"]) and (saved["error"] == "").all()
    boxes = pd.read_csv(probe / "lesions.csv")
    box_of = {
        str((probe / p).resolve()): (x0, y0, x1, y1) for p, x0, y0, x1, y1 in boxes.itertuples(index=False)
    }
    maps = [np.load(out / name) for name in saved["map"]]
    hits = pointing_game(
        maps, [box_of[str(Path(p).resolve())] for p in saved["path"]], POINTING_TOLERANCE * 128
    )
    assert len(hits) == 40
    assert hits.mean() >= 0.8, f"pointing game {hits.sum()}/{len(hits)} at layer {saved['layer'].iloc[0]}"
    # Faithfulness on the same maps: deleting the pixels the map ranks first lowers the tumour probability
    # faster than deleting those of the same maps turned by 180 degrees (as smooth, pointing elsewhere).
    # (Random pixel orders are no reference on a trained CNN: scattered black pixels alone wreck its score.)
    assert saved["deletion_auc"].between(0, 1).all() and saved["insertion_auc"].between(0, 1).all()
    model, meta = load_for_inference(run)
    images = load_images(list(saved["path"]), meta)
    inputs = images.tensor(range(len(images.rows)), meta)
    turned = np.stack([np.rot90(m, 2) for m in maps])
    black = eval_transform(meta)(torch.zeros(1, 128, 128, dtype=torch.uint8))
    elsewhere = deletion_insertion(model.eval(), inputs, turned, [1] * len(maps), black)
    assert saved["deletion_auc"].mean() < elsewhere.deletion_auc.mean() - 0.1, elsewhere.deletion_auc.mean()
    assert saved["insertion_auc"].mean() > elsewhere.insertion_auc.mean(), elsewhere.insertion_auc.mean()


@pytest.mark.slow
def test_gradcam_maximum_falls_inside_the_lesion(localisation_run: tuple[Path, Path], tmp_path: Path) -> None:
    run, data = localisation_run
    result = localisation_check(run, data / "lesions.csv", method="gradcam", figure=tmp_path / "grid.png")
    assert result["n"] >= 30, "enough tumour images in the test split to measure a rate"
    assert result["layer"] == "features.block3.act"
    assert result["margin_px"] == pytest.approx(0.05 * 64)
    assert result["hit_rate"] >= 0.8, result
    assert Path(result["figure"]).stat().st_size > 0


def test_the_peak_in_a_box_uses_pixel_centres() -> None:
    heat = np.zeros((8, 8))
    heat[2, 5] = 1.0  # row 2, column 5: centre (5.5, 2.5)
    assert pointing_game([heat], [(5.0, 2.0, 6.0, 3.0)], tolerance=0.0).tolist() == [True]
    assert pointing_game([heat, heat], [(0.0, 0.0, 5.4, 8.0), (0.0, 2.6, 8.0, 8.0)], 0.0).tolist() == [
        False,
        False,
    ]


def test_pointing_game_counts_peaks_within_the_tolerance_of_the_box() -> None:
    heat = np.zeros((16, 16))
    heat[2, 5] = 1.0  # centre (5.5, 2.5)
    assert map_peak(heat) == (5.5, 2.5)
    assert distance_to_box((5.5, 2.5), (5, 2, 6, 3)) == 0
    assert distance_to_box((5.5, 2.5), (8.5, 6.5, 10, 10)) == pytest.approx(5.0)  # a 3-4-5 triangle
    hits = pointing_game(
        [heat, heat, heat], [(5, 2, 6, 3), (8.5, 6.5, 10, 10), (8.5, 0, 10, 4)], tolerance=4.0
    )
    assert hits.tolist() == [True, False, True]
    with pytest.raises(ValueError, match="equal counts"):
        pointing_game([heat], [], tolerance=1.0)


class RegionBrightness(nn.Module):
    """Two logits whose margin is the mean input inside the top-left 8x8 square of a 32x32 image."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        margin = 8.0 * x[:, :, :8, :8].mean(dim=(1, 2, 3)) - 4.0
        return torch.stack([torch.zeros_like(margin), margin], dim=1)


def test_deletion_and_insertion_rank_the_true_region_above_a_random_map() -> None:
    model = RegionBrightness()
    inputs = torch.ones(2, 1, 32, 32)
    truth = np.zeros((32, 32), np.float32)
    truth[:8, :8] = 1.0
    noise = np.random.default_rng(0).random((32, 32))
    curves = deletion_insertion(model, inputs, np.stack([truth, noise]), targets=[1, 1], steps=16)
    full, empty = 1 / (1 + np.exp(-4.0)), 1 / (1 + np.exp(4.0))
    # Both curves run from the image to the baseline (deletion) and back (insertion).
    np.testing.assert_allclose(curves.deletion[:, 0], full, rtol=1e-5)
    np.testing.assert_allclose(curves.deletion[:, -1], empty, rtol=1e-5)
    np.testing.assert_allclose(curves.insertion[:, 0], empty, rtol=1e-5)
    np.testing.assert_allclose(curves.insertion[:, -1], full, rtol=1e-5)
    # The true region is 1/16 of the pixels: the first step of deletion removes all of it.
    assert curves.deletion[0, 1] == pytest.approx(empty, rel=1e-5)
    assert curves.insertion[0, 1] == pytest.approx(full, rel=1e-5)
    assert curves.deletion_auc[0] < curves.deletion_auc[1] - 0.3
    assert curves.insertion_auc[0] > curves.insertion_auc[1] + 0.3


def test_flat_maps_delete_in_a_seeded_random_order_not_raster_order() -> None:
    order = pixel_order(np.zeros((8, 8)), seed=0)
    assert sorted(order.tolist()) == list(range(64)) and order[:8].tolist() != list(range(8))
    np.testing.assert_array_equal(order, pixel_order(np.zeros((8, 8)), seed=0))
    assert pixel_order(np.arange(4.0).reshape(2, 2)).tolist() == [3, 2, 1, 0]


def test_class_probability_per_head() -> None:
    one = torch.tensor([[2.0]])
    assert class_probability(one, [1]).item() == pytest.approx(1 / (1 + np.exp(-2.0)))
    assert class_probability(one, [0]).item() == pytest.approx(1 / (1 + np.exp(2.0)))
    two = torch.tensor([[1.0, 3.0]])
    assert class_probability(two, [1]).item() == pytest.approx(torch.softmax(two, 1)[0, 1].item())
    three = torch.tensor([[1.0, 3.0, 0.0]])
    assert class_probability(three, [2]).item() == pytest.approx(torch.softmax(three, 1)[0, 2].item())
