"""A small, fast training configuration and one trained run shared by the API tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dicom_peers import mr_study, orthanc  # noqa: F401 (fixtures of test_dicom_node: a real PACS, MR images)

from medclass.config import Config, build_config

FAST = {
    "seed": 3,
    "data": {"image_size": 32, "batch_size": 16},
    "split": {"strategy": "stratified", "val_frac": 0.25, "test_frac": 0.25},
    "model": {
        "name": "cnn",
        "cnn": {"blocks": [{"out_channels": 8}, {"out_channels": 16}], "dense": [16], "dense_dropout": 0.2},
    },
    "optim": {"lr": 0.003},
    "augment": {"preset": "light"},
    "trainer": {"epochs": 3, "patience": None, "progress_bar": False},
    "evaluation": {"bootstrap": 50},
}


def make_fast_config(data: Path, out: Path, overrides: list[str] | None = None, **values: Any) -> Config:
    """The fast config on ``data`` writing to ``out``."""
    return build_config(FAST, overrides or [], {"data.path": str(data), "out": str(out), **values})


@pytest.fixture
def fast_config() -> Callable[..., Config]:
    """``fast_config(data, out, overrides)``: a config that trains in seconds."""
    return make_fast_config


@pytest.fixture(scope="session")
def trained_run(phantom_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished run on the phantom data (every epoch's checkpoint kept)."""
    from medclass.api import train

    out = tmp_path_factory.mktemp("runs") / "phantom"
    train(make_fast_config(phantom_data, out, ["checkpoint.every_epoch=true"]))
    return out
