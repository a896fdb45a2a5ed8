"""Locations medclass reads from or writes to, each overridable by an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

# Where the shared real data sets live for integration tests and benchmarks.
DATA_DIR_ENV = "MEDCLASS_DATA_DIR"
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[3] / ".." / "shared" / "datasets"
CACHE_DIR_ENV = "MEDCLASS_CACHE_DIR"


def shared_data_dir() -> Path:
    """The folder of real data sets: ``$MEDCLASS_DATA_DIR`` or ``../shared/datasets`` beside the project."""
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).resolve()


def cache_dir(configured: str | os.PathLike | None = None) -> Path:
    """Preprocessing cache folder: the configured one, ``$MEDCLASS_CACHE_DIR`` or ``~/.cache/medclass``."""
    base = configured or os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "medclass"
    path = Path(base).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
