"""What ``import medclass`` shows: the workflow functions and :class:`Run`, as light functions whose
signatures and docstrings ``help(medclass)`` and a notebook's completion read without importing torch.

Each function imports the module that does the work (``medclass.api.<workflow>``) when it is called, so
``import medclass`` stays cheap and a missing extra (``tune`` needs ``medclass[tune]``) is reported by the
call that needs it, not by ``import medclass`` or ``help``. Their signatures are those of the api functions
(a test keeps them equal). Like the package's ``__init__``, this module is outside the layers.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only what is below the api layer: medclass.runs imports the package (and so this module)
    import pandas as pd
    from rich.console import Console

    import medclass
    from medclass.config import Config
    from medclass.runs import RunFiles


def _call(module: str, name: str, arguments: dict[str, Any]) -> Any:
    """``module.name(**arguments)``, importing ``module`` now (the wrappers pass their ``locals()``).

    By name, not by an import statement: ``medclass.runs`` imports the package (for its version), so an import
    of the api here would read, to import-linter, as the run folder layer importing the api.
    """
    return getattr(importlib.import_module(module), name)(**arguments)


class Run:
    """A training run's folder: its results, and predict/evaluate/report with its best checkpoint.

    Files are read when asked for, so a run shows what is on disk now (what ``evaluate`` and ``report`` added
    included). ``os.fspath(run)`` is the folder: a run goes wherever a path does.

    Example:
        >>> run = medclass.load_run("runs/brain_mri-resnet18")
        >>> run.metrics["accuracy"], run.metrics["auroc"]
        >>> run.predict("new_scans/")[["path", "prediction", "confidence"]]
    """

    def __init__(self, path: str | Path) -> None:
        """Open the run folder ``path``.

        Raises:
            RunDirError: ``path`` is not a run folder (no config.yaml).
        """
        from medclass.runs import CONFIG_FILE
        from medclass.utils.errors import RunDirError

        self.path = Path(path)
        if not (self.path / CONFIG_FILE).is_file():
            raise RunDirError(f"{self.path}: not a medclass run folder (no {CONFIG_FILE})")

    def __fspath__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        from medclass.utils.errors import RunDirError

        try:
            return f"Run({str(self.path)!r}: {_describe(self.files())})"
        except RunDirError as exc:
            return f"Run({str(self.path)!r}: {exc})"

    def files(self) -> RunFiles:
        """Every saved file of the run, read now (:func:`medclass.runs.load_run`)."""
        from medclass.runs import load_run as load_run_files

        return load_run_files(self.path)

    @property
    def name(self) -> str:
        """``config.name``, else the folder's name."""
        return self.files().name

    @property
    def config(self) -> Config:
        """The resolved config the run trained with (``config.yaml``)."""
        from medclass.config import load_config
        from medclass.runs import CONFIG_FILE

        return load_config(self.path / CONFIG_FILE)

    @property
    def metrics(self) -> dict[str, Any] | None:
        """The test split's metrics with the best checkpoint (``test_metrics.json``; None without a test split):
        ``accuracy``, ``balanced_accuracy``, ``macro_f1``, ``auroc``, ``per_class``, ``ci`` (95% bootstrap
        intervals), ``classes``, ``n``, ``threshold``, ``best_epoch``, ..."""
        return self.files().test_metrics

    @property
    def history(self) -> pd.DataFrame | None:
        """One row per epoch: losses, validation metrics, learning rate (``metrics.csv``)."""
        return self.files().metrics

    @property
    def test_predictions(self) -> pd.DataFrame | None:
        """Per-image probabilities on the test split (``predictions_test.csv``)."""
        return self.files().predictions

    @property
    def classes(self) -> list[str]:
        return self.files().classes

    @property
    def checkpoint(self) -> Path:
        """The best checkpoint: the model that ``predict`` and ``evaluate`` use."""
        from medclass.runs import RunLayout

        return RunLayout(self.path).best_checkpoint

    @property
    def report_file(self) -> Path | None:
        """``report.html`` (None until written: training writes it unless ``evaluation.report`` is off)."""
        from medclass.runs import REPORT_FILE

        return _existing(self.path / REPORT_FILE)

    @property
    def summary_file(self) -> Path | None:
        """``summary.md``, the main table for pasting (None until written)."""
        from medclass.runs import SUMMARY_FILE

        return _existing(self.path / SUMMARY_FILE)

    @property
    def plots(self) -> dict[str, Path]:
        """The run's figures, ``{name: plots/<name>.png}``."""
        from medclass.runs import RunLayout

        return {p.stem: p for p in sorted(RunLayout(self.path).plots.glob("*.png"))}

    def predict(self, inputs: str | Path | Sequence[str | Path], **options: Any) -> pd.DataFrame:
        """Class probabilities for image files and folders (searched recursively) with the best checkpoint.

        Args:
            inputs: a file or folder, or a list of them.
            **options: those of :func:`medclass.predict` (``out``, ``mc_dropout``, ``tta``, ...).

        Returns:
            One row per image: ``path, prediction, confidence, p_<class>..., error``.
        """
        paths = [inputs] if isinstance(inputs, str | Path) else list(inputs)
        return predict(self.path, paths, **options)

    def evaluate(self, data: str | Path | None = None, split: str = "test", **options: Any) -> dict[str, Any]:
        """Metrics of the best checkpoint on a split of the run, or on another labelled data set (``data``).

        ``options`` are those of :func:`medclass.evaluate` (``epoch``, ``bootstrap``, ``operating_point``,
        ...). The metrics are also written to ``evaluations/<split or data name>.json`` in the run.
        """
        return evaluate(self.path, data=data, split=split, **options)

    def report(self, out: str | Path | None = None, console: Console | None = None) -> Path:
        """Draw the run's figures, write ``report.html`` (or ``out``) and ``summary.md``; returns the HTML."""
        return report(self.path, out=out, console=console).html


def load_run(path: str | Path) -> Run:
    """A finished (or interrupted) run folder as a :class:`Run`.

    Raises:
        RunDirError: ``path`` is not a run folder (no config.yaml).
    """
    return Run(path)


def train(
    data: str | Path | Mapping[str, Any] | None = None,
    *,
    model: str | Mapping[str, Any] | None = None,
    epochs: int | None = None,
    image_size: int | None = None,
    recipe: str | None = None,
    config: Config | Mapping[str, Any] | str | Path | None = None,
    name: str | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    resume: bool = False,
    console: Console | None = None,
    **overrides: Any,
) -> Run:
    """Train a classifier on a labelled data set and evaluate it on the test split.

    The settings layer as on the command line: the ``recipe``, then ``config``, then the keyword arguments.
    A keyword left at ``None`` keeps the value below it; the built-in defaults are resnet18, 10 epochs
    (early stopping on the validation loss) and 128 px images.

    Args:
        data: the data folder or CSV file (``data.path``), or the ``data`` section (a dict).
        model: a model name (``model.name``: ``resnet18``, ``timm:<name>``, ``cnn``), or the ``model`` section.
        epochs: the most epochs to train (``trainer.epochs``).
        image_size: the side the images are resized to (``data.image_size``).
        recipe: a named recipe (``medclass.config.recipes.available_recipes()``), the bottom layer.
        config: a YAML file, a dict (only its keys count) or a :class:`medclass.Config` (complete: every key
            counts, so not with ``recipe``).
        name: the run's name: its folder is ``runs/<name>`` (default: data set, model and time).
        out: the run folder itself.
        overwrite: replace an existing run folder (only a medclass run, only the files medclass wrote).
        resume: continue the interrupted run in ``out`` with its saved config.
        console: where messages go (default: the terminal or notebook).
        **overrides: any other config key. A flag name of ``medclass train`` (``lr``, ``batch_size``,
            ``weight_decay``, ``drop_rate``) or a top-level key (``seed=1``, ``tracking="mlflow"``); a
            section is a dict merged into it (``optim={"lr": 3e-4}``, ``trainer={"patience": None}``) or a
            typed section (``medclass.config.schema.OptimConfig(...)``: every field counts).

    Returns:
        The finished :class:`Run`: ``metrics``, ``history``, ``checkpoint``, ``predict``, ``evaluate``,
        ``report``.

    Raises:
        ConfigError: a key or value the config does not accept (named, with what is allowed).
        DataError, RunDirError: unusable data, or a run folder that may not be written.

    Example:
        >>> run = medclass.train(data="data/brain_mri", epochs=10, optim={"lr": 3e-4}, seed=1)
        >>> run.metrics["accuracy"]
    """
    # The keywords become one validated config (medclass.api.keywords), which the command's function trains.
    keywords = dict(model=model, epochs=epochs, image_size=image_size, recipe=recipe, config=config)
    layered = dict(data=data, **keywords, name=name, out=out, resume=resume, **overrides)
    settings = _call("medclass.api.keywords", "keyword_config", layered)
    options = dict(overwrite=overwrite, resume=resume, console=console)
    result = _call("medclass.api.train", "train", dict(config=settings, **options))
    return Run(result.run_dir)


def evaluate(
    source: str | Path,
    data: str | Path | None = None,
    split: str = "test",
    epoch: int | None = None,
    out: str | Path | None = None,
    bootstrap: int | None = None,
    operating_point: str | None = None,
    mc_dropout: int | None = None,
    tta: int = 0,
    console: Console | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Metrics of a run's best (or ``epoch``) checkpoint, or a checkpoint file's, on a split of the run or on
    another labelled data set (``data``), with bootstrap CIs; ``medclass evaluate``.

    Every argument: ``help(medclass.api.evaluate.evaluate)``.
    """
    return _call("medclass.api.evaluate", "evaluate", locals())


def predict(
    checkpoint: str | Path,
    inputs: Sequence[str | Path],
    out: str | Path | None = None,
    batch_size: int = 64,
    mc_dropout: int = 0,
    tta: int = 0,
    flag_uncertain: float | None = None,
    seed: int = 0,
    overwrite: bool = False,
    dicom_sr: str | Path | None = None,
) -> pd.DataFrame:
    """Class probabilities for image files and folders with a run's best checkpoint (or a checkpoint file or
    an export bundle), optionally with MC-dropout/TTA uncertainty, and DICOM SR files (``dicom_sr``);
    ``medclass predict``.

    Every argument: ``help(medclass.api.predict.predict)``.
    """
    return _call("medclass.api.predict", "predict", locals())


def report(
    run_dir: str | Path, out: str | Path | None = None, console: Console | None = None
) -> medclass.reporting.build.ReportResult:
    """Draw the figures of a run folder and write its ``report.html`` and ``summary.md``; ``medclass report``.

    Every argument: ``help(medclass.api.report.report)``.
    """
    return _call("medclass.api.report", "report", locals())


def inspect(
    data: str | Path,
    near_dup_distance: int | None = None,
    json_out: str | Path | None = None,
    progress: bool = False,
    overwrite: bool = False,
    console: Console | None = None,
    label_columns: list[str] | None = None,
) -> dict[str, Any]:
    """The data-quality report of a data set (counts, sizes, formats, unreadable files, duplicates);
    ``medclass inspect``. Every argument: ``help(medclass.api.data.inspect)``."""
    return _call("medclass.api.data", "inspect", locals())


def split(
    config: Config,
    out: str | Path = "splits.csv",
    progress: bool = False,
    overwrite: bool = False,
    console: Console | None = None,
) -> pd.DataFrame:
    """The train/val/test split table of ``config.data.path``, written to ``out``; ``medclass split``.
    Every argument: ``help(medclass.api.data.split)``."""
    return _call("medclass.api.data", "split", locals())


def tune(
    base_tree: Mapping[str, Any],
    space: medclass.campaigns.search_space.SearchSpace | str | Path,
    out_dir: str | Path | None = None,
    *,
    n_trials: int = 20,
    folds: int = 1,
    sampler: str = "tpe",
    storage: str | None = None,
    study_name: str | None = None,
    source: str = "config",
    heartbeat_seconds: int | None = None,
    grace_seconds: int | None = None,
    console: Console | None = None,
) -> medclass.campaigns.tuning.TuneResult:
    """A hyper-parameter search (Optuna; needs ``medclass[tune]``), each trial scored by cross-validation;
    ``medclass tune``. Every argument: ``help(medclass.api.tune.tune)``."""
    return _call("medclass.api.tune", "tune", locals())


def compare(
    run_dirs: Sequence[str | Path] = (),
    experiments: str | Path | None = None,
    out: str | Path | None = None,
    repeats: int | None = None,
    overrides: Sequence[str] = (),
    values: Mapping[str, Any] | None = None,
    console: Console | None = None,
) -> medclass.api.compare.CompareResult:
    """Compare finished runs, or train a grid of variants first; ``medclass compare``.
    Every argument: ``help(medclass.api.compare.compare)``."""
    return _call("medclass.api.compare", "compare", locals())


def demo(
    data_dir: str | Path = "demo_data",
    out: str | Path | None = None,
    n_per_class: int = 100,
    overrides: list[str] | None = None,
    console: Console | None = None,
) -> medclass.api.train.TrainResult:
    """Generate a phantom MRI data set (once) and train on it; ``medclass demo``.
    Every argument: ``help(medclass.api.demo.demo)``."""
    return _call("medclass.api.demo", "demo", locals())


def _describe(files: RunFiles) -> str:
    """One line about a run: model, epochs, and the test metrics when there are some."""
    epochs = 0 if files.metrics is None else len(files.metrics)
    parts = [
        str(files.config.get("model", {}).get("name", "?")),
        f"{epochs} epoch(s), best {files.best_epoch}",
    ]
    test = files.test_metrics
    if not test:
        return ", ".join([*parts, "no test metrics"])
    for key, label in (("accuracy", "test accuracy"), ("macro_f1", "macro-F1"), ("auroc", "AUROC")):
        if isinstance(test.get(key), int | float):
            parts.append(f"{label} {test[key]:.3f}")
    return ", ".join([*parts, f"n={test.get('n', '?')}"])


def _existing(path: Path) -> Path | None:
    return path if path.is_file() else None
