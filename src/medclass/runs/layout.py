"""The names inside a run folder, checkpoint naming, and the marker that says "medclass wrote this folder".

Every file name of the run-folder contract is spelled here once; other modules use these constants and the
path helpers of :class:`RunLayout`, never string literals.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from medclass.runs.validation_layout import VALIDATION_DIR
from medclass.utils.errors import RunDirError
from medclass.utils.io import write_json

# The marker: a folder holding a valid one is a medclass output folder of the named kind.
MARKER_FILE = "run.json"

CONFIG_FILE = "config.yaml"
SPLITS_FILE = "splits.csv"
DATA_REPORT_FILE = "data_report.json"
METRICS_FILE = "metrics.csv"
TEST_METRICS_FILE = "test_metrics.json"
TEST_PREDICTIONS_FILE = "predictions_test.csv"
EPOCH_METRICS_FILE = "epoch_metrics.csv"
REFERRAL_FILE = "referral.csv"
MODEL_PROFILE_FILE = "model_profile.json"
REPORT_FILE = "report.html"
SUMMARY_FILE = "summary.md"
PLOTS_DIR = "plots"
ARTIFACTS_INFO_FILE = "model_artifacts.json"  # inside plots/
CHECKPOINTS_DIR = "checkpoints"
BEST_CHECKPOINT = "best"
LAST_CHECKPOINT = "last"
CHECKPOINT_SUFFIX = ".ckpt"
TENSORBOARD_DIR = "tensorboard"
EVALUATIONS_DIR = "evaluations"  # the JSON files that evaluate writes into a run
EXPLANATIONS_DIR = "explanations"  # explain's default output: explanations/<method>/
EXPLANATIONS_INDEX_FILE = "explanations.csv"  # one row per explained image, in each explanations folder
# --refit: the second training (on train+val) logs into this sub-folder; its model becomes best.ckpt and the
# first fit's best model is kept beside it as FIRST_FIT_CHECKPOINT.
REFIT_DIR = "refit"
ENSEMBLE_FILE = "ensemble.json"  # medclass ensemble: the members and the tests against each
FIRST_FIT_CHECKPOINT = "first_fit"

# What a training run writes at its top level: the entries ``--overwrite`` may remove. Anything else in the
# folder was put there by someone else and is kept.
RUN_ENTRIES = (
    MARKER_FILE,
    CONFIG_FILE,
    SPLITS_FILE,
    DATA_REPORT_FILE,
    METRICS_FILE,
    TEST_METRICS_FILE,
    TEST_PREDICTIONS_FILE,
    REFERRAL_FILE,
    MODEL_PROFILE_FILE,
    REPORT_FILE,
    SUMMARY_FILE,
    PLOTS_DIR,
    CHECKPOINTS_DIR,
    TENSORBOARD_DIR,
    REFIT_DIR,
    ENSEMBLE_FILE,
)
# Entries written later by other commands into a run (``epoch_metrics_<name>.csv``, explanation folders).
RUN_ENTRY_PREFIXES = ("epoch_metrics", EXPLANATIONS_DIR, EVALUATIONS_DIR, VALIDATION_DIR)


def epoch_checkpoint_name(epoch: int) -> str:
    """File name of the checkpoint kept for ``epoch`` (1-based)."""
    return f"epoch={epoch:02d}{CHECKPOINT_SUFFIX}"


def checkpoint_epoch_of_name(name: str) -> int | None:
    """The epoch of an ``epoch=NN.ckpt`` file name (None for other names)."""
    stem = name.removesuffix(CHECKPOINT_SUFFIX)
    number = stem.removeprefix("epoch=")
    return int(number) if stem != number and number.isdigit() else None


@dataclass(frozen=True)
class RunLayout:
    """Paths of the files of one run folder."""

    root: Path

    def file(self, name: str) -> Path:
        return self.root / name

    @property
    def checkpoints(self) -> Path:
        return self.root / CHECKPOINTS_DIR

    @property
    def best_checkpoint(self) -> Path:
        return self.checkpoints / f"{BEST_CHECKPOINT}{CHECKPOINT_SUFFIX}"

    @property
    def first_fit_checkpoint(self) -> Path:
        return self.checkpoints / f"{FIRST_FIT_CHECKPOINT}{CHECKPOINT_SUFFIX}"

    @property
    def refit(self) -> Path:
        return self.root / REFIT_DIR

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / f"{LAST_CHECKPOINT}{CHECKPOINT_SUFFIX}"

    def epoch_checkpoint(self, epoch: int) -> Path:
        return self.checkpoints / epoch_checkpoint_name(epoch)

    def kept_epochs(self) -> list[int]:
        """Epochs whose ``checkpoints/epoch=NN.ckpt`` exists, ascending."""
        if not self.checkpoints.is_dir():
            return []
        epochs = (checkpoint_epoch_of_name(p.name) for p in self.checkpoints.glob(f"*{CHECKPOINT_SUFFIX}"))
        return sorted(e for e in epochs if e is not None)

    def has_checkpoint(self) -> bool:
        """Whether any checkpoint was saved (a run that has one is never removed by a failed start)."""
        return self.checkpoints.is_dir() and any(self.checkpoints.glob(f"*{CHECKPOINT_SUFFIX}"))

    @property
    def plots(self) -> Path:
        return self.root / PLOTS_DIR

    def plot(self, name: str) -> Path:
        return self.plots / f"{name}.png"


def medclass_version() -> str:
    """The installed medclass version (the package's own when not installed)."""
    try:
        return metadata.version("medclass")
    except metadata.PackageNotFoundError:
        from medclass import __version__

        return __version__


def write_marker(folder: Path, kind: str) -> dict[str, Any]:
    """Write ``folder/run.json`` (kind, medclass version, a new id, creation time) and return its content."""
    marker = {
        "kind": kind,
        "medclass_version": medclass_version(),
        "id": uuid.uuid4().hex,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_json(folder / MARKER_FILE, marker)
    return marker


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The marker of ``folder``, or None when it has none (or an unreadable one)."""
    path = Path(folder) / MARKER_FILE
    if not path.is_file():
        return None
    try:
        marker = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) and isinstance(marker.get("kind"), str) else None


def resolve_checkpoint(path: str | Path, epoch: int | None = None) -> Path:
    """A checkpoint file from a file path or a run folder (its best checkpoint, or the given epoch's).

    Raises:
        RunDirError: naming what was looked for.
    """
    path = Path(path)
    if path.is_file():
        if epoch is not None:
            raise RunDirError(f"--epoch needs a run folder, not the checkpoint file {path}")
        return path
    if not path.is_dir():
        raise RunDirError(f"{path}: no such run folder or checkpoint file")
    layout = RunLayout(path)
    candidate = layout.best_checkpoint if epoch is None else layout.epoch_checkpoint(epoch)
    if not candidate.is_file():
        kept = sorted(p.name for p in layout.checkpoints.glob(f"*{CHECKPOINT_SUFFIX}"))
        hint = f" (kept: {', '.join(kept)})" if kept else ""
        extra = "; train with checkpoint.every_epoch: true to keep every epoch" if epoch is not None else ""
        raise RunDirError(f"{candidate}: not found{hint}{extra}")
    return candidate


def run_dir_of(source: str | Path) -> Path:
    """The run folder of a run folder or of a checkpoint inside its ``checkpoints/`` folder.

    Raises:
        RunDirError: a checkpoint outside a run folder.
    """
    source = Path(source)
    if source.is_dir():
        return source
    if source.parent.name == CHECKPOINTS_DIR:
        return source.parent.parent
    raise RunDirError(f"{source}: a checkpoint outside a run folder has no splits; pass --data DIR")
