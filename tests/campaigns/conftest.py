"""A base config tree that trains in a few seconds on the phantom data (for tune and compare tests)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

TINY: dict[str, Any] = {
    "seed": 5,
    "data": {"image_size": 32, "batch_size": 16},
    "split": {"strategy": "stratified", "val_frac": 0.25, "test_frac": 0.25},
    "model": {
        "name": "cnn",
        "cnn": {"blocks": [{"out_channels": 4}, {"out_channels": 8}], "dense": [8], "dense_dropout": 0.0},
    },
    "optim": {"lr": 0.003},
    "augment": {"preset": "none"},
    "trainer": {"epochs": 1, "patience": None, "progress_bar": False},
    "evaluation": {"bootstrap": 20, "report": False},
}


@pytest.fixture(scope="session")
def make_tiny_tree(phantom_data: Path) -> Callable[[], dict[str, Any]]:
    """``make_tiny_tree()``: a fresh copy of the tiny base config tree on the phantom data."""

    def make() -> dict[str, Any]:
        tree = copy.deepcopy(TINY)
        tree["data"]["path"] = str(phantom_data)
        return tree

    return make


@pytest.fixture
def tiny_tree(make_tiny_tree: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The tiny base config tree on the phantom data (a fresh copy per test)."""
    return make_tiny_tree()
