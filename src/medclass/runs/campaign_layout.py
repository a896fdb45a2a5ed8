"""The folders of campaigns and of what is built from runs: a tune study, a compare campaign, an ensemble.

Every file and folder name of these folders is spelled here once (as :mod:`medclass.runs.layout` does for a
run folder); the campaign code, the api and the CLI use these constants and layouts, never string literals.

Tune study (``medclass tune``, default ``runs/tune/<study>``)::

    study.db  trials.csv  best.yaml  best_trial.json  param_importances.json  plots/
    trials/trial-NNNN/run/  or  trials/trial-NNNN/fold-K/     the run folders of each trial

Compare campaign (``medclass compare``, default ``runs/compare/<grid name>``)::

    comparison.csv  comparison.md  comparison.html  comparison_long.csv  plots/
    comparison_per_label.csv                                   multi-label runs: per label, DeLong vs the best
    <variant>/seed-<seed>/                                     the run folders of a grid

Ensemble (``medclass ensemble --out``): a run-like folder plus ``ensemble.json`` and ``ensemble_members.csv``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from medclass.runs.layout import ENSEMBLE_FILE, PLOTS_DIR

# The kinds of output folder the guard (:func:`medclass.runs.guard.prepare_output_dir`) records in run.json.
TUNE_KIND = "tune"
COMPARE_KIND = "compare"
ENSEMBLE_KIND = "ensemble"

# --- tune study --------------------------------------------------------------------------------------------
TUNE_ROOT = Path("runs") / "tune"
STUDY_DB = "study.db"
TRIALS_FILE = "trials.csv"
BEST_CONFIG_FILE = "best.yaml"
BEST_TRIAL_FILE = "best_trial.json"
IMPORTANCES_FILE = "param_importances.json"
TRIALS_DIR = "trials"
SINGLE_RUN_DIR = "run"  # the run folder of a trial without cross-validation
# What identifies a study folder written before the marker existed.
TUNE_LEGACY_ENTRIES = (STUDY_DB, TRIALS_FILE, TRIALS_DIR)

# --- compare campaign --------------------------------------------------------------------------------------
COMPARE_ROOT = Path("runs") / "compare"
COMPARISON_FILE = "comparison.csv"
COMPARISON_MD_FILE = "comparison.md"
COMPARISON_HTML_FILE = "comparison.html"
COMPARISON_LONG_FILE = "comparison_long.csv"
COMPARISON_PER_LABEL_FILE = "comparison_per_label.csv"  # multi-label runs only
COMPARE_LEGACY_ENTRIES = (COMPARISON_FILE,)

# --- ensemble ----------------------------------------------------------------------------------------------
ENSEMBLE_MEMBERS_FILE = "ensemble_members.csv"  # beside ensemble.json (runs.layout.ENSEMBLE_FILE)


def default_study_name(space: str | Path) -> str:
    """The space file's name without ``.yaml``/``.yml`` and a trailing ``.space``: ``sweep.space.yaml`` ->
    ``sweep``."""
    return Path(space).name.split(".yaml")[0].removesuffix(".yml").removesuffix(".space")


def default_compare_dir(experiments: str | Path | None) -> Path:
    """``runs/compare/<grid name>`` (stable, so the same command resumes) or a dated folder for run folders."""
    if experiments is not None:
        return COMPARE_ROOT / Path(experiments).stem
    return COMPARE_ROOT / time.strftime("compare-%Y%m%d-%H%M%S")


@dataclass(frozen=True)
class StudyLayout:
    """Paths of the files of one tune study folder."""

    root: Path

    @property
    def db(self) -> Path:
        return self.root / STUDY_DB

    @property
    def trials_table(self) -> Path:
        return self.root / TRIALS_FILE

    @property
    def best_config(self) -> Path:
        return self.root / BEST_CONFIG_FILE

    @property
    def best_trial(self) -> Path:
        return self.root / BEST_TRIAL_FILE

    @property
    def importances(self) -> Path:
        return self.root / IMPORTANCES_FILE

    @property
    def plots(self) -> Path:
        return self.root / PLOTS_DIR

    def trial_dir(self, number: int) -> Path:
        """``trials/trial-NNNN``: the run folders of one trial (one per fold)."""
        return self.root / TRIALS_DIR / f"trial-{number:04d}"

    def fold_run_dir(self, number: int, fold: int, folds: int) -> Path:
        """The run folder of one fold of a trial: ``fold-K`` with cross-validation, else ``run``."""
        return self.trial_dir(number) / (f"fold-{fold}" if folds > 1 else SINGLE_RUN_DIR)


@dataclass(frozen=True)
class ComparisonLayout:
    """Paths of the files of one compare campaign folder."""

    root: Path

    @property
    def table(self) -> Path:
        return self.root / COMPARISON_FILE

    @property
    def markdown(self) -> Path:
        return self.root / COMPARISON_MD_FILE

    @property
    def html(self) -> Path:
        return self.root / COMPARISON_HTML_FILE

    @property
    def long_table(self) -> Path:
        return self.root / COMPARISON_LONG_FILE

    @property
    def per_label_table(self) -> Path:
        return self.root / COMPARISON_PER_LABEL_FILE

    @property
    def plots(self) -> Path:
        return self.root / PLOTS_DIR

    def run_dir(self, variant: str, seed: int) -> Path:
        """``<variant>/seed-<seed>``: the run folder of one training of a grid."""
        return self.root / variant / f"seed-{seed}"


@dataclass(frozen=True)
class EnsembleLayout:
    """Paths of the files an ensemble adds to its run-like folder."""

    root: Path

    @property
    def info(self) -> Path:
        return self.root / ENSEMBLE_FILE

    @property
    def members(self) -> Path:
        return self.root / ENSEMBLE_MEMBERS_FILE
