"""Every file-based figure of a run, written to ``RUN_DIR/plots/`` from the run's saved files.

Each figure is drawn by :mod:`medclass.reporting.plots`; this module only reads the inputs out of a
:class:`~medclass.runs.RunFiles`. A figure whose inputs are absent or unusable is skipped with
a note (the report then says why it is missing) instead of stopping the others.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from medclass.data.files import file_problem
from medclass.data.preprocess import PreprocessSettings, load_preprocessed
from medclass.data.readers import UnreadableImage
from medclass.reporting import plots
from medclass.reporting.plots_common import check_columns, new_figure, save_figure, styled
from medclass.runs import RunFiles

# The class-activation panel of the most confident test errors (drawn by the api layer, which has the model).
ERROR_CAMS_FIGURE = "error_cams"
# Images in the test-prediction grid (errors first, most confident first).
PREDICTION_GRID_SIZE = 24
# Column names accepted in referral.csv for the referred fraction and the accuracy on the rest.
_REFERRAL_FRACTION = ("fraction_referred", "referred_fraction", "fraction")
_REFERRAL_ACCURACY = ("accuracy", "retained_accuracy", "accuracy_retained")


@dataclass
class Figures:
    """Figures written (name -> PNG) and the reasons of those skipped (name -> reason)."""

    paths: dict[str, Path] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def drawer(self, out: Path) -> Callable[[str, Callable[[Path], Path]], None]:
        """``draw(name, make)``: call ``make(out / name.png)`` and record its path, or the reason it was skipped
        (a ``ValueError`` or ``KeyError`` from missing inputs)."""

        def draw(name: str, make: Callable[[Path], Path]) -> None:
            try:
                self.paths[name] = make(out / f"{name}.png")
            except (ValueError, KeyError) as exc:
                self.skipped[name] = str(exc).strip("'\"")

        return draw


def _first_column(table: pd.DataFrame, names: tuple[str, ...], what: str) -> str:
    for name in names:
        if name in table.columns:
            return name
    raise ValueError(
        f"referral table needs a {what} column ({' or '.join(names)}); it has {list(table.columns)}"
    )


@styled
def plot_referral_curve(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Accuracy on the images kept against the fraction referred to a clinician (most uncertain first).

    Args:
        table: one row per referred fraction: ``fraction_referred`` (as written by
            ``medclass.api.evaluate.referral_evaluation``; or ``referred_fraction`` / ``fraction``) in [0, 1] and ``accuracy`` of
            the images kept; an optional ``method`` column draws one line per method.
        path: PNG to write.

    Raises:
        ValueError: a required column is missing (named) or the table is empty.
    """
    if table.empty:
        raise ValueError("referral table is empty")
    x_col = _first_column(table, _REFERRAL_FRACTION, "referred-fraction")
    y_col = _first_column(table, _REFERRAL_ACCURACY, "accuracy")
    fig = new_figure(5.6, 4.2)
    ax = fig.subplots()
    groups = table.groupby("method", sort=False) if "method" in table.columns else [("accuracy", table)]
    for name, rows in groups:
        rows = rows.sort_values(x_col)
        marker = "o" if len(rows) <= 40 else None  # medclass writes one row per referred image
        ax.plot(
            100 * rows[x_col].to_numpy(float), rows[y_col].to_numpy(float), marker=marker, label=str(name)
        )
    ax.set_xlabel("images referred (most uncertain first, %)")
    ax.set_ylabel("accuracy on the images kept")
    ax.set_title("Accuracy vs referral (MC-dropout uncertainty)")
    ax.grid(True)
    if "method" in table.columns:
        ax.legend(loc="lower right", frameon=False)
    return save_figure(fig, path)


def prediction_rows(predictions: pd.DataFrame, n: int = PREDICTION_GRID_SIZE) -> pd.DataFrame:
    """The rows a prediction grid shows: errors by descending confidence, then correct ones likewise."""
    check_columns(predictions, ["path", "label", "prediction", "confidence"], "predictions_test.csv")
    wrong = predictions["label"].astype(str) != predictions["prediction"].astype(str)
    order = predictions.assign(_wrong=wrong).sort_values(["_wrong", "confidence"], ascending=[False, False])
    return order.drop(columns="_wrong").head(n)


class LazyImages(Sequence):
    """Model-sized pixels of image files, read only when indexed (a grid shows 24 of thousands).

    A file that cannot be read any more shows as a uniform grey tile rather than stopping the figure.
    """

    def __init__(self, paths: Sequence[str], settings: PreprocessSettings) -> None:
        self.paths, self.settings = list(paths), settings

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> np.ndarray:
        try:
            return load_preprocessed(self.paths[index], self.settings)
        except (UnreadableImage, OSError):
            size, channels = self.settings.image_size, self.settings.channels
            return np.full((size, size, channels), 128, dtype=np.uint8)


def _prediction_grid(run: RunFiles, path: Path) -> Path:
    table = run.predictions
    if table is None or table.empty:
        raise ValueError("no predictions_test.csv in the run folder")
    check_columns(table, ["path", "label", "prediction", "confidence"], "predictions_test.csv")
    # Every test row goes in (the title counts the errors of all of them); only the shown ones are read.
    if not any(file_problem(p) is None for p in prediction_rows(table)["path"]):
        raise ValueError("none of the test images shown can be read any more (moved or deleted?)")
    settings = PreprocessSettings.from_dict(run.config.get("data", {}))
    return plots.plot_prediction_grid(
        LazyImages(list(table["path"]), settings),
        list(table["label"].astype(str)),
        list(table["prediction"].astype(str)),
        list(table["confidence"]),
        path,
        max_images=PREDICTION_GRID_SIZE,
        names=[Path(p).name for p in table["path"]],
    )


def write_run_figures(run: RunFiles) -> Figures:
    """Draw every figure the saved files allow into ``run.plots_dir``.

    Returns:
        The figures written and the skipped ones with their reason.
    """
    out = run.plots_dir
    figures = Figures()

    draw = figures.drawer(out)

    def need(value, what: str):
        if value is None:
            raise ValueError(f"no {what} in the run folder")
        return value

    classes = run.classes
    cm = (run.test_metrics or {}).get("confusion_matrix")
    scores = run.test_scores()
    draw(
        "learning_curves",
        lambda p: plots.plot_learning_curves(need(run.metrics, "metrics.csv"), p, run.best_epoch),
    )
    draw("class_distribution", lambda p: plots.plot_class_distribution(need(run.splits, "splits.csv"), p))
    draw(
        "confusion_matrix",
        lambda p: plots.plot_confusion_matrix(need(cm, "test confusion matrix"), classes, p),
    )
    draw(
        "confusion_matrix_normalized",
        lambda p: plots.plot_confusion_matrix(need(cm, "test confusion matrix"), classes, p, normalize=True),
    )
    draw("roc", lambda p: plots.plot_roc_curves(*need(scores, "predictions_test.csv")[:2], classes, p))
    draw("pr", lambda p: plots.plot_pr_curves(*need(scores, "predictions_test.csv")[:2], classes, p))
    draw(
        "reliability", lambda p: plots.plot_reliability_diagram(*need(scores, "predictions_test.csv")[:2], p)
    )
    draw("test_predictions", lambda p: _prediction_grid(run, p))
    if run.referral is not None:
        draw("referral", lambda p: plot_referral_curve(run.referral, p))
    return figures
