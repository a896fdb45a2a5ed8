"""The shortcut screens on synthetic data whose answer is known: image size that gives the label is flagged by
the metadata screen and the same set without it is not; a model trained on a set whose label lives in the
image corners (outside the body) is flagged by the masked-anatomy screen, one whose label lives in the body
is not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_image
from PIL import Image
from torch import nn

from medclass.assessment.shortcuts import metadata_screen, screen_shortcuts
from medclass.data.body_mask import body_mask, otsu_threshold
from medclass.inference.decision import Decision
from medclass.inference.inputs import load_images
from medclass.inference.runner import Predictor
from medclass.inference.spec import ModelSpec

SIZE = 32
CLASSES = ["a", "b"]


def _metadata_set(root: Path, size_gives_label: bool) -> tuple[list[str], np.ndarray]:
    files, y = [], []
    for c in range(2):
        for i in range(20):
            size = (40 + 8 * c, 32 + 8 * c) if size_gives_label else (40, 32)
            files.append(str(write_image(root / CLASSES[c] / f"{i}.png", size=size, seed=100 * c + i)))
            y.append(c)
    return files, np.array(y)


@pytest.mark.parametrize("size_gives_label", [True, False])
def test_metadata_screen_flags_image_size_that_gives_the_label(
    tmp_path: Path, size_gives_label: bool
) -> None:
    files, y = _metadata_set(tmp_path / "data", size_gives_label)
    result = metadata_screen(files, y, CLASSES, tmp_path / "out", seed=0, n_resamples=200)
    assert result["flagged"] is size_gives_label
    assert result["chance"] == 0.5 and result["n"] == 40
    assert (tmp_path / "out" / result["figure"]).is_file()
    json.dumps(result)  # JSON-able for validation.json
    if size_gives_label:
        assert result["balanced_accuracy"]["ci_low"] > 0.9
        assert result["single_feature"]["width"] == 1.0 and "carries a shortcut" in result["verdict"]
    else:
        assert result["balanced_accuracy"]["ci_low"] < 0.6 and "No metadata shortcut" in result["verdict"]


def test_body_mask_uses_otsu_and_leaves_corner_markers_outside() -> None:
    image = np.zeros((SIZE, SIZE), np.uint8)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    image[(yy - 16) ** 2 + (xx - 16) ** 2 <= 81] = 200
    image[14:18, 14:18] = 30  # a dark inside (ventricles) is still body
    image[:5, :5] = image[-5:, -5:] = 90  # a corner marker darker than the body, apart from it
    assert 90 < otsu_threshold(image) <= 200
    mask = body_mask(image)
    assert mask[16, 16] and not mask[:5, :5].any() and not mask[-5:, -5:].any()
    assert mask.sum() == np.count_nonzero((yy - 16) ** 2 + (xx - 16) ** 2 <= 81)


def _phantom(rng: np.random.Generator, marked: bool, body_level: int) -> np.ndarray:
    """A bright textured disc (the body) at a jittered place; ``marked``: grey squares in the four corners."""
    image = rng.integers(0, 12, (SIZE, SIZE)).astype(np.float64)
    cy, cx = 16 + rng.integers(-2, 3, size=2)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= rng.integers(7, 10) ** 2
    image[disc] = body_level + rng.normal(0, 20, disc.sum())
    if marked:
        for sy in (slice(0, 5), slice(-5, None)):
            for sx in (slice(0, 5), slice(-5, None)):
                image[sy, sx] = 90
    return np.clip(image, 0, 255).astype(np.uint8)


def _trained(root: Path, label_in_corners: bool) -> tuple[Predictor, list[str], list[str]]:
    """A small CNN trained (plain torch, a few seconds) on a set whose label is in the corners or in the body,
    on the inputs the inference path gives it; the predictor of the model and the files with their labels."""
    rng = np.random.default_rng(0)
    files, labels = [], []
    for c, name in enumerate(CLASSES):
        for i in range(48):
            level = 180 if label_in_corners else (120 if c == 0 else 230)
            path = root / name / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(_phantom(rng, marked=label_in_corners and c == 1, body_level=level)).save(path)
            files.append(str(path))
            labels.append(name)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(128, 2)
    )
    meta = ModelSpec(
        model={},
        classes=CLASSES,
        preprocess={"settings": {"image_size": SIZE, "channels": 1}, "mean": [0.5], "std": [0.25]},
        decision=Decision(),
    )
    inputs = load_images(files, meta).tensor(range(len(files)), meta)
    targets = torch.tensor([CLASSES.index(label) for label in labels])
    optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(60):
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(inputs), targets).backward()
        optimiser.step()
    return Predictor(model, meta, device=torch.device("cpu")), files, labels


@pytest.mark.parametrize("label_in_corners", [True, False])
def test_masked_anatomy_screen_flags_a_model_that_reads_the_corners(
    tmp_path: Path, label_in_corners: bool
) -> None:
    predictor, files, labels = _trained(tmp_path / "data", label_in_corners)
    result = screen_shortcuts(
        predictor, files, labels, predictor.classes, tmp_path / "screens", n_resamples=200
    )
    json.dumps(result)
    masked = result["masked_anatomy"]
    scores = masked["scores"]
    assert scores["original"]["balanced_accuracy"]["value"] > 0.9, "the model must have learned the label"
    assert masked["flagged"] is label_in_corners and masked["chance"] == 0.5
    assert (tmp_path / "screens" / masked["figure"]).is_file()
    if label_in_corners:
        assert "may not be looking at the patient" in masked["verdict"]
        assert scores["masked_anatomy"]["auroc"]["value"] > 0.9
        assert scores["masked_background"]["auroc"]["ci_low"] < 0.6  # the corners gone, the label is gone
    else:
        assert scores["masked_anatomy"]["auroc"]["ci_low"] < 0.6
        assert scores["masked_background"]["auroc"]["value"] > 0.9
    assert result["outside_body"]["flagged"] is None and "not run" in result["outside_body"]["verdict"]


@pytest.mark.parametrize("maps_outside", [True, False])
def test_outside_body_screen_flags_maps_on_the_background(tmp_path: Path, maps_outside: bool) -> None:
    rng = np.random.default_rng(1)
    files, labels = [], []
    for name in CLASSES:
        for i in range(12):
            path = tmp_path / "data" / name / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(_phantom(rng, marked=False, body_level=180)).save(path)
            files.append(str(path))
            labels.append(name)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    meta = ModelSpec(
        model={},
        classes=CLASSES,
        preprocess={"settings": {"image_size": SIZE, "channels": 1}, "mean": [0.5], "std": [0.25]},
        decision=Decision(),
    )
    seen = []

    def class_maps(model, meta, inputs, targets):  # stands in for explain's default_class_maps
        seen.append(len(targets))
        pixels = inputs[:, 0].numpy()
        bright = pixels > pixels.mean(axis=(1, 2), keepdims=True)  # about the body
        maps = (~bright if maps_outside else bright).astype(float)
        return type("Maps", (), {"maps": maps, "method": "fake", "layer_name": "none"})()

    predictor = Predictor(model, meta, device=torch.device("cpu"))
    result = screen_shortcuts(
        predictor,
        files,
        labels,
        CLASSES,
        tmp_path / "out",
        class_maps=class_maps,
        explain_limit=10,
        n_resamples=200,
    )["outside_body"]
    assert sum(seen) == 10 and result["n"] == 10  # the seeded sample of explained images
    assert result["flagged"] is maps_outside and (tmp_path / "out" / result["figure"]).is_file()
    outside = result["median_outside"]["value"]
    assert outside > 0.9 if maps_outside else outside < 0.1
