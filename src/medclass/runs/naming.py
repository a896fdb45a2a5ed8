"""Where a training run goes when no folder is given: ``runs/<name>`` or a fresh dated name."""

from __future__ import annotations

import time
from pathlib import Path

from medclass.config.schema import Config

RUNS_ROOT = Path("runs")


def default_run_name(config: Config) -> str:
    """``<data folder>-<model>-<date-time>``, e.g. ``Training-resnet18-20261125-101500``."""
    data = Path(config.data.path).stem if config.data.path else "data"
    model = config.model.name.replace("timm:", "").replace("/", "-")
    return f"{data}-{model}-{time.strftime('%Y%m%d-%H%M%S')}"


def resolve_run_dir(config: Config) -> Path:
    """The run folder: ``config.out``, else ``runs/<config.name>``, else a fresh dated name."""
    if config.out:
        return Path(config.out)
    if config.name:
        return RUNS_ROOT / config.name
    base = RUNS_ROOT / default_run_name(config)
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path
