"""Shared fixtures: tiny synthetic images and folders, restored global state, the shared data sets."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from requirements_gate import missing

from medclass.utils.paths import DATA_DIR_ENV, shared_data_dir

# Preprocessing cache of this test process (never the user's ~/.cache/medclass).
_SESSION_CACHE = Path(os.environ.get("TMPDIR", "/tmp")) / f"medclass-test-cache-{os.getpid()}"
# Empty torch hub and Hugging Face caches of this test process: pretrained weights are never the user's.
_SESSION_HUB = _SESSION_CACHE / "torch-home"
_SESSION_HF = _SESSION_CACHE / "hf-hub"

# The data sets the real-data tests read, under $MEDCLASS_DATA_DIR.
SHARED_DATA_SETS = ("brain_mri_yesno", "brain_tumor_mri_4class")

# Keep each test process to one thread: `make test` runs two pytest workers on two cores.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _restore_global_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Seed every RNG before a test and undo what a test did to seeds, env vars and torch flags.

    Every test is offline, with empty weight caches (``model.pretrained: auto`` trains from scratch): nothing
    tries the internet. The pretrained-download tests switch offline mode off and serve weights on loopback.
    """
    import huggingface_hub.constants as hf_constants

    python_state, numpy_state, torch_state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    deterministic = torch.are_deterministic_algorithms_enabled()
    monkeypatch.setenv("MEDCLASS_CACHE_DIR", str(_SESSION_CACHE))
    monkeypatch.setenv("MEDCLASS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(_SESSION_HUB))
    monkeypatch.setenv("HF_HUB_CACHE", str(_SESSION_HF))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(_SESSION_HF))
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield
    random.setstate(python_state)
    np.random.set_state(numpy_state)
    torch.set_rng_state(torch_state)
    torch.use_deterministic_algorithms(deterministic)


@pytest.fixture
def hub_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache of the test's own: ``$TORCH_HOME/hub``. (``torch.hub.set_dir`` is not used: it
    pins the folder for the rest of the process, and a later test's ``TORCH_HOME`` would be ignored.)"""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    return Path(torch.hub.get_dir())


def write_image(path: Path, size: tuple[int, int] = (40, 32), mode: str = "L", seed: int = 0) -> Path:
    """Write a small random image in the given PIL mode; the format follows the extension."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    if mode in ("I;16", "I"):
        pixels = rng.integers(0, 4096, (h, w), dtype=np.uint16)
        image = Image.fromarray(pixels)
    else:
        rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        image = Image.fromarray(rgb).convert(mode)
    image.save(path)
    return path


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Folder-per-class data set: 2 classes x 12 distinct 40x32 PNG/JPEG images."""
    root = tmp_path / "data"
    for c, label in enumerate(("benign", "malignant")):
        for i in range(12):
            ext = ".png" if i % 2 else ".JPG"
            write_image(root / label / f"img{i}{ext}", mode="L" if i % 3 else "RGB", seed=100 * c + i)
    return root


@pytest.fixture(scope="session")
def phantom_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's phantom data set, small: 2 classes x 40 images of 64 px (with lesions.csv)."""
    from medclass.data.synthetic import make_phantom_dataset

    return make_phantom_dataset(tmp_path_factory.mktemp("phantom"), n_per_class=40, size=64, seed=1)


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """The real data sets (``$MEDCLASS_DATA_DIR``): skips when one is absent, fails in CI (``CI=true``)."""
    root = shared_data_dir()
    absent = [name for name in SHARED_DATA_SETS if not (root / name).is_dir()]
    if absent:
        missing(
            f"data set folder(s) {', '.join(str(root / n) for n in absent)} not found (set {DATA_DIR_ENV})"
        )
    return root
