"""``medclass train``: data preparation, fitting, and the test evaluation, into one run folder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from medclass.api.model_figures import write_model_figures
from medclass.assessment.multilabel import fit_label_rules, score_multilabel_test_split
from medclass.assessment.scoring import score_training_test_split
from medclass.assessment.validation import ValDecision, fit_on_val, training_val_scores
from medclass.config import Config, save_config
from medclass.data.datamodule import MedDataModule
from medclass.data.run_data import PreparedData, prepare_data, split_counts
from medclass.data.test_data import check_test_data_strategy
from medclass.evaluation.decision_fit import training_rule
from medclass.inference.runner import Predictor
from medclass.models.registry import TIMM_PREFIX, get_entry
from medclass.reporting.build import build_report
from medclass.runs import (
    CONFIG_FILE,
    OutputDir,
    RunLayout,
    check_output_dir,
    load_run,
    prepare_output_dir,
    removed_if_unstarted,
    resolve_run_dir,
)
from medclass.training.checkpoint import checkpoint_epoch, store_decision, store_label_rules
from medclass.training.describe import describe_choices, describe_decision, describe_label_decision, fmt
from medclass.training.fit import fit
from medclass.training.refit import refit_model
from medclass.training.setup import build_module, positive_class_of, run_normalization, start_weights
from medclass.training.tracking import build_loggers, log_run_artifacts
from medclass.utils.console import default_console
from medclass.utils.dist import is_global_zero
from medclass.utils.errors import DataError, MedclassError, RunDirError
from medclass.utils.seed import seed_everything


@dataclass
class TrainResult:
    """Where a finished run put its results."""

    run_dir: Path
    best_checkpoint: Path
    test_metrics: dict[str, Any] | None
    metrics: Any  # metrics.csv as a pandas DataFrame (None in a DDP process other than rank 0)


def build_datamodule(config: Config, data: PreparedData) -> MedDataModule:
    """The data module of a prepared data set; refuses an empty validation split."""
    table = data.training_table(config.split)
    if not (table["split"] == "val").any():
        raise DataError("the validation split is empty: raise --val-frac or add a val folder/CSV split")
    return MedDataModule(
        data.cache,
        table,
        data.classes,
        config.data,
        config.augment,
        config.seed,
        *run_normalization(config),
        multilabel=data.multilabel,
    )


def fit_val_decision(checkpoint: Path, datamodule: MedDataModule, config: Config) -> ValDecision:
    """Fit the temperature (``evaluation.calibrate``) and the binary threshold (``evaluation.operating_point``)
    on the validation split with the best checkpoint, and store both in that checkpoint; also choose the
    operating points the report shows beside the decision rule."""
    predictor = Predictor.load(checkpoint)
    val = training_val_scores(predictor, datamodule, config.data.batch_size)
    settings = config.evaluation
    positive = positive_class_of(config, datamodule)
    fitted = fit_on_val(
        val,
        predictor.classes,
        calibrate=settings.calibrate,
        operating_point=training_rule(settings.operating_point, predictor.classes, val.labels, positive),
        positive=positive,
    )
    store_decision(checkpoint, fitted.decision)
    return fitted


def finish_run(
    run_dir: Path, best: Path, config: Config, console: Console, *, model_figures: bool = True
) -> None:
    """The end-of-training figures that need the model (single-label runs), then (``evaluation.report``)
    report.html and summary.md.

    The run's results are already saved; a failure here is reported with the command that retries it, and
    does not turn a finished training into an error.
    """
    try:
        if model_figures:
            write_model_figures(run_dir, best, console=console)
        if config.evaluation.report:
            build_report(run_dir, lambda _: None, console)
    except (MedclassError, OSError, ValueError) as exc:
        console.print(
            f"[bold yellow]report not written:[/] {escape(str(exc))}\n  retry with: medclass report {run_dir}"
        )


def close_run(
    run_dir: Path, best: Path, test_metrics: dict[str, Any] | None, loggers: Sequence[Any], console: Console
) -> TrainResult:
    """The run's artifacts to the trackers, the closing line, and the :class:`TrainResult`."""
    log_run_artifacts(loggers, run_dir)
    console.print(f"results in {run_dir}")
    metrics = load_run(run_dir).metrics
    return TrainResult(run_dir=run_dir, best_checkpoint=best, test_metrics=test_metrics, metrics=metrics)


def train_other_process(config: Config, *, resume: bool, callbacks: Sequence[Any]) -> TrainResult:
    """A DDP process other than rank 0: the same data, model and Trainer, and nothing written or printed.

    Rank 0 has prepared the run folder; a resumed run reads its splits.csv, a new one splits again with the
    same seed (the same table). The checkpoint callbacks take rank 0's folder (Lightning broadcasts it).
    """
    run_dir = resolve_run_dir(config)
    quiet = Console(quiet=True)
    config = start_weights(config, quiet, resume)
    seed_everything(config.seed)
    data = prepare_data(config, run_dir, reuse_splits=resume, console=quiet, write=False)
    datamodule = build_datamodule(config, data)
    module = build_module(config, datamodule)
    best = fit(module, datamodule, config, run_dir, resume=resume, callbacks=callbacks)
    return TrainResult(run_dir=run_dir, best_checkpoint=best, test_metrics=None, metrics=None)


def check_before_start(config: Config, resume: bool, run_dir: Path, overwrite: bool = False) -> None:
    """Cheap checks that must pass before the data is scanned: the model name, the data and splits paths,
    the output folder (may it be written as asked?), resumability. Nothing is written.

    Raises:
        ConfigError, DataError, RunDirError: naming the key, path or file.
    """
    if not config.model.name.startswith(TIMM_PREFIX):
        get_entry(config.model.name)
    if config.data.path and not Path(config.data.path).exists():
        raise DataError(f"data.path / --data {config.data.path}: no such folder or CSV file")
    if config.data.test_path and not Path(config.data.test_path).exists():
        raise DataError(f"data.test_path / --test-data {config.data.test_path}: no such folder or CSV file")
    check_test_data_strategy(config)
    if config.split.splits_file and not Path(config.split.splits_file).is_file():
        raise DataError(f"split.splits_file / --splits {config.split.splits_file}: no such file")
    check_output_dir(
        run_dir, "run", overwrite=overwrite, resume=resume, protected=protected_paths(config), legacy=LEGACY
    )
    if resume and not RunLayout(run_dir).last_checkpoint.is_file():
        raise RunDirError(f"{run_dir}: nothing to resume (no checkpoints/last.ckpt)")


def protected_paths(config: Config) -> list[str]:
    """Folders a run folder must not be, contain or lie in: the data (and the separate test data)."""
    return [p for p in (config.data.path, config.data.test_path) if p]


# An entry that marks a run folder written before run.json existed.
LEGACY = (CONFIG_FILE,)


def claim_run_dir(
    run_dir: Path, config: Config, overwrite: bool, resume: bool, console: Console
) -> OutputDir:
    """Create (or take over) the run folder; says where it is."""
    claimed = prepare_output_dir(
        run_dir, "run", overwrite=overwrite, resume=resume, protected=protected_paths(config), legacy=LEGACY
    )
    console.print(f"run folder: {run_dir}")
    if claimed.kept:
        console.print(
            f"[yellow]kept {len(claimed.kept)} file(s) medclass did not write:[/] {', '.join(claimed.kept)}"
        )
    return claimed


def finish_multilabel(
    config: Config,
    datamodule: MedDataModule,
    best: Path,
    run_dir: Path,
    loggers: Sequence[Any],
    console: Console,
) -> TrainResult:
    """After fitting a multi-label model: the per-label thresholds chosen on val (stored in the best checkpoint),
    then the test split scored into test_metrics.json and predictions_test.csv."""
    rules = fit_label_rules(best, datamodule, config)
    store_label_rules(best, rules)
    describe_label_decision(rules, console)
    test_metrics = score_multilabel_test_split(best, datamodule, config, run_dir, checkpoint_epoch(best))
    if test_metrics is not None:
        per_label = "  ".join(
            f"{name} {fmt(block['auroc']['value'])}" for name, block in test_metrics["per_label"].items()
        )
        console.print(
            f"[bold]test[/] macro AUROC {fmt(test_metrics['macro_auroc']['value'])}  mAP "
            f"{fmt(test_metrics['map']['value'])}  per-label AUROC {per_label}  (n={test_metrics['n']})"
        )
    finish_run(run_dir, best, config, console, model_figures=False)
    return close_run(run_dir, best, test_metrics, loggers, console)


def train(
    config: Config,
    *,
    overwrite: bool = False,
    resume: bool = False,
    callbacks: Sequence[Any] = (),
    console: Console | None = None,
) -> TrainResult:
    """Train a classifier as ``config`` says and evaluate it on the test split.

    Args:
        config: the resolved run config (``data.path`` or ``split.splits_file`` must be set).
        overwrite: replace an existing run folder (only a medclass run folder, and only what medclass wrote).
        resume: continue the run in ``config.out`` from its last checkpoint.
        callbacks: extra Lightning callbacks.
        console: where messages go.

    Returns:
        The run folder, best checkpoint, test metrics and per-epoch metrics.
    """
    if not is_global_zero():
        return train_other_process(config, resume=resume, callbacks=callbacks)
    console = console or default_console()
    run_dir = resolve_run_dir(config)
    check_before_start(config, resume, run_dir, overwrite)
    # The weights are fetched once, before the data scan; `pretrained: true` without them stops here.
    config = start_weights(config, console, resume)
    seed_everything(config.seed)
    # The data is scanned, split and checked before the run folder exists: bad data leaves nothing behind.
    data = prepare_data(config, run_dir, reuse_splits=resume, console=console, write=False)
    datamodule = build_datamodule(config, data)
    positive_class_of(config, datamodule)  # a bad evaluation.positive_class fails before training
    module = build_module(config, datamodule)  # so does a bad model name or weights file
    claimed = claim_run_dir(run_dir, config, overwrite, resume, console)
    # A start that fails (an error, Ctrl-C) before the first checkpoint removes the folder it created.
    with removed_if_unstarted(claimed, lambda path: RunLayout(path).has_checkpoint(), console.print):
        save_config(config, run_dir / CONFIG_FILE)
        data.write(run_dir, splits=not resume)
        counts = split_counts(data.training_table(config.split), data.classes if data.multilabel else None)
        describe_choices(
            config, data.report, counts, data.classes, datamodule.num_workers, console, module.model
        )
        loggers = build_loggers(config, run_dir)
        best = fit(module, datamodule, config, run_dir, resume, callbacks, loggers, console)
    if datamodule.multilabel:
        return finish_multilabel(config, datamodule, best, run_dir, loggers, console)
    fitted = fit_val_decision(best, datamodule, config)
    describe_decision(fitted.decision, console)
    refit: dict[str, Any] = {}
    if config.trainer.refit:
        best, refit = refit_model(config, data, best, fitted.decision, run_dir, console)
    epoch = checkpoint_epoch(best)
    test_metrics = score_training_test_split(best, datamodule, config, run_dir, fitted, epoch, refit)
    if test_metrics is not None:
        console.print(
            f"[bold]test[/] accuracy {test_metrics['accuracy']:.4f}  macro-F1 {test_metrics['macro_f1']:.4f}  "
            f"AUROC {fmt(test_metrics.get('auroc'))}  (n={test_metrics['n']}, best checkpoint {best.name})"
        )
    finish_run(run_dir, best, config, console)
    return close_run(run_dir, best, test_metrics, loggers, console)
