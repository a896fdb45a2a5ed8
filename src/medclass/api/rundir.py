"""Run folders: naming, creation, and the rules that keep an existing run from being lost."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from medclass.config.schema import Config
from medclass.utils.errors import RunDirError

RUNS_ROOT = Path("runs")
# A folder holding this file is a medclass run (and may be replaced with --overwrite).
RUN_MARKER = "config.yaml"


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


def prepare_run_dir(path: Path, overwrite: bool = False, resume: bool = False) -> Path:
    """Create the run folder, refusing to reuse one silently.

    An existing non-empty folder needs ``resume`` (continue it) or ``overwrite`` (replace it). Overwrite only
    replaces folders that are medclass runs, so a mistyped ``--out`` never deletes someone's data.

    Raises:
        RunDirError: when the folder exists and neither flag allows it, or resume finds nothing to resume.
    """
    if overwrite and resume:
        raise RunDirError("--overwrite and --resume exclude each other")
    exists = path.exists() and any(path.iterdir())
    if resume:
        if not (path / "checkpoints" / "last.ckpt").is_file():
            raise RunDirError(f"{path}: nothing to resume (no checkpoints/last.ckpt)")
        return path
    if exists:
        if not overwrite:
            raise RunDirError(
                f"{path} already exists: pass --overwrite to replace it, --resume to continue it, "
                "or choose another --out"
            )
        if not (path / RUN_MARKER).is_file():
            raise RunDirError(
                f"{path} is not a medclass run folder (no {RUN_MARKER}); refusing to overwrite it"
            )
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path
