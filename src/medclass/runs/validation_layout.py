"""The folder of ``medclass validate``: its file names, spelled here once.

::

    <run>/validation/      (default_validation_dir: validation, then validation-2, ... never replacing one)
      run.json             the marker (kind "validation")
      validation.json      the machine-readable results (a public contract, docs/validation.md)
      predictions.csv      per image and site: path, label, probabilities, the decision
      decision_curve.csv   binary: net benefit per site and threshold (model, treat all, treat none)
      dossier.md           the checklists and the evidence, for people (and dossier.html)
      figures/             reliability.png, decision_curve.png, forest.png, and the shortcut screens' figures
                           (a multi-label model: label_roc.png and the flow figure)

Figure paths inside validation.json are relative to the folder (``figures/forest.png``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

VALIDATION_KIND = "validation"  # the guard's kind of a validation folder
VALIDATION_DIR = "validation"
VALIDATION_FILE = "validation.json"
VALIDATION_PREDICTIONS_FILE = "predictions.csv"
DECISION_CURVE_TABLE = "decision_curve.csv"
DOSSIER_FILE = "dossier.md"
DOSSIER_HTML_FILE = "dossier.html"
FIGURES_DIR = "figures"
RELIABILITY_FIGURE = "reliability.png"
DECISION_CURVE_FIGURE = "decision_curve.png"
FOREST_FIGURE = "forest.png"
LABEL_ROC_FIGURE = "label_roc.png"  # multi-label: a panel per label, a ROC curve per site


def default_validation_dir(run_dir: str | Path) -> Path:
    """``<run>/validation``, or ``validation-2``, ``-3``, ... when it exists: a new folder, never an old one."""
    base = Path(run_dir) / VALIDATION_DIR
    path, number = base, 1
    while path.exists():
        number += 1
        path = base.with_name(f"{VALIDATION_DIR}-{number}")
    return path


@dataclass(frozen=True)
class ValidationLayout:
    """Paths of the files of one validation folder."""

    root: Path

    @property
    def results(self) -> Path:
        """``validation.json``."""
        return self.root / VALIDATION_FILE

    @property
    def predictions(self) -> Path:
        """``predictions.csv``."""
        return self.root / VALIDATION_PREDICTIONS_FILE

    @property
    def decision_curve_table(self) -> Path:
        """``decision_curve.csv``."""
        return self.root / DECISION_CURVE_TABLE

    @property
    def dossier(self) -> Path:
        """``dossier.md``."""
        return self.root / DOSSIER_FILE

    @property
    def dossier_html(self) -> Path:
        """``dossier.html``."""
        return self.root / DOSSIER_HTML_FILE

    @property
    def figures(self) -> Path:
        """``figures/``."""
        return self.root / FIGURES_DIR

    def figure(self, name: str) -> Path:
        """``figures/<name>``."""
        return self.figures / name

    def relative(self, path: Path) -> str:
        """``path`` relative to the folder, with ``/`` (how validation.json names its files)."""
        return Path(path).relative_to(self.root).as_posix()
