"""Localisation sanity check: after training, Grad-CAM points at the lesion that decides the class.

Phantom MRI slices (``medclass.data.synthetic``): the ``tumor`` class differs from ``no_tumor`` only by one
bright lesion at a random place, and ``lesions.csv`` holds its box. A small custom CNN trained through the API
must put Grad-CAM's maximum inside the box (dilated by 5% of the image side, 3.2 px at 64 px: about one cell
of the 16x16 target layer) for at least 80% of the tumour images of the test split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medclass.api import train
from medclass.api.explain import localisation_check, peak_in_box
from medclass.config import build_config
from medclass.data.synthetic import make_phantom_dataset

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


@pytest.fixture(scope="module")
def localisation_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("localisation")
    data = make_phantom_dataset(root / "data", n_per_class=150, size=64, seed=11)
    config = build_config(LOCALISATION_CONFIG, [], {"data.path": str(data), "out": str(root / "run")})
    result = train(config)
    assert result.test_metrics["accuracy"] >= 0.9, "the CNN must learn the task before its maps mean anything"
    return root / "run", data


@pytest.mark.slow
def test_gradcam_maximum_falls_inside_the_lesion(localisation_run: tuple[Path, Path], tmp_path: Path) -> None:
    run, data = localisation_run
    result = localisation_check(run, data / "lesions.csv", method="gradcam", figure=tmp_path / "grid.png")
    assert result["n"] >= 30, "enough tumour images in the test split to measure a rate"
    assert result["layer"] == "features.block3.act"
    assert result["margin_px"] == pytest.approx(0.05 * 64)
    assert result["hit_rate"] >= 0.8, result
    assert Path(result["figure"]).stat().st_size > 0


def test_peak_in_box_uses_pixel_centres() -> None:
    heat = np.zeros((8, 8))
    heat[2, 5] = 1.0  # row 2, column 5: centre (5.5, 2.5)
    assert peak_in_box(heat, (5.0, 2.0, 6.0, 3.0))
    assert not peak_in_box(heat, (0.0, 0.0, 5.4, 8.0))
    assert not peak_in_box(heat, (0.0, 2.6, 8.0, 8.0))
