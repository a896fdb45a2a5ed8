"""Flat memory over hundreds of explanations: hooks released, no figures or graphs kept alive."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from medclass.api.explain import explain_files
from medclass.explain import compute_cam
from medclass.inference.spec import ModelSpec
from medclass.models import create_model

SMALL_CNN = {"blocks": [{"out_channels": 8}, {"out_channels": 16}], "dense": [16]}


def resident_mb() -> float:
    """Resident set size of this process in MiB (/proc/self/statm: pages)."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _live_mb() -> float:
    gc.collect()  # cyclic garbage (matplotlib figures) goes anyway; collect so that only live memory counts
    return resident_mb()


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("cnn", num_classes=2, in_chans=1, image_size=64, cnn=SMALL_CNN).eval()


def test_300_cams_in_a_loop_keep_memory_flat(model: torch.nn.Module) -> None:
    x = torch.randn(1, 1, 64, 64)
    readings = {}
    for i in range(1, 301):
        compute_cam(model, x, [i % 2], "gradcam")
        if i in (100, 300):
            readings[i] = _live_mb()
    assert sum(len(m._forward_hooks) for m in model.modules()) == 0
    # A leaked hook per call would keep every later call's activations: hundreds of MB by call 300.
    assert readings[300] - readings[100] < 4.0, readings


@pytest.mark.slow
def test_300_explained_files_keep_memory_flat(model: torch.nn.Module, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    files = []
    for i in range(300):
        path = tmp_path / "in" / f"img{i:03d}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (40, 40), dtype=np.uint8)).save(path)
        files.append(str(path))
    meta = ModelSpec(
        model={},
        classes=["a", "b"],
        preprocess={"settings": {"image_size": 64, "channels": 1}, "mean": [0.5], "std": [0.25]},
    )
    readings = []
    for chunk in range(3):  # three batches of 100 into one folder, as a user would run them
        part = files[chunk * 100 : (chunk + 1) * 100]
        table = explain_files(model, meta, part, tmp_path / "out", method="gradcam", batch_size=16)
        assert (table["error"] == "").all()
        readings.append(_live_mb())
    assert len(list((tmp_path / "out").glob("*.png"))) == 300
    assert readings[2] - readings[0] < 10.0, readings
