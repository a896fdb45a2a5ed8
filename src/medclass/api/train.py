"""``medclass train``: data preparation, fitting, and the test evaluation, into one run folder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd
from rich.console import Console
from rich.markup import escape

from medclass.api.model_figures import write_model_figures
from medclass.config import Config, save_config
from medclass.data.datamodule import MedDataModule
from medclass.data.run_data import PreparedData, prepare_data, split_counts
from medclass.data.test_data import check_test_data_strategy
from medclass.evaluation.bootstrap import BOOTSTRAP_SEED
from medclass.evaluation.decision_fit import Decision, fit_decision
from medclass.evaluation.scoring import decision_blocks, score, val_operating_points
from medclass.evaluation.thresholds import resolve_positive_class
from medclass.inference.inputs import CachedImages, image_groups_of_table
from medclass.inference.runner import Predictor
from medclass.models.registry import TIMM_PREFIX, get_entry
from medclass.reporting.build import build_report
from medclass.runs import (
    CONFIG_FILE,
    METRICS_FILE,
    SPLITS_FILE,
    TEST_METRICS_FILE,
    TEST_PREDICTIONS_FILE,
    OutputDir,
    RunLayout,
    check_output_dir,
    prepare_output_dir,
    removed_if_unstarted,
    resolve_run_dir,
)
from medclass.training.checkpoint import checkpoint_epoch, keep_for_inference, store_decision
from medclass.training.describe import describe_choices, describe_decision, fmt
from medclass.training.fit import fit
from medclass.training.setup import build_module, run_normalization, start_weights
from medclass.training.tracking import build_loggers, log_run_artifacts
from medclass.utils.console import default_console
from medclass.utils.dist import is_global_zero
from medclass.utils.errors import ConfigError, DataError, MedclassError, RunDirError
from medclass.utils.io import write_json
from medclass.utils.seed import seed_everything


@dataclass
class TrainResult:
    """Where a finished run put its results."""

    run_dir: Path
    best_checkpoint: Path
    test_metrics: dict[str, Any] | None
    metrics: pd.DataFrame


def build_datamodule(config: Config, data: PreparedData) -> MedDataModule:
    """The data module of a prepared data set; refuses an empty validation split."""
    table = data.training_table(config.split)
    if not (table["split"] == "val").any():
        raise DataError("the validation split is empty: raise --val-frac or add a val folder/CSV split")
    return MedDataModule(
        data.cache, table, data.classes, config.data, config.augment, config.seed, *run_normalization(config)
    )


def split_images(datamodule: MedDataModule, split: str) -> CachedImages:
    """The cached images of one split of the data module, for :class:`Predictor`."""
    return CachedImages(cache=datamodule.cache, rows=list(datamodule.rows[split]), failures={})


def positive_class_of(config: Config, datamodule: MedDataModule) -> str | None:
    """The binary task's positive class: ``evaluation.positive_class``, else the default rule on the class
    counts of all splits (None for multi-class).

    Raises:
        ConfigError: a name that is not a class, or a positive class for a multi-class task.
    """
    counts = sum(datamodule.class_counts(split) for split in ("train", "val", "test"))
    try:
        return resolve_positive_class(datamodule.classes, config.evaluation.positive_class, counts)
    except ValueError as exc:
        raise ConfigError(f"evaluation.positive_class: {exc}") from None


@dataclass
class ValDecision:
    """The decision rule fitted on val, and the operating points reported beside it."""

    decision: Decision
    operating_points: dict[str, Any]


def fit_val_decision(checkpoint: Path, datamodule: MedDataModule, config: Config) -> ValDecision:
    """Fit the temperature (``evaluation.calibrate``) and the binary threshold (``evaluation.operating_point``)
    on the validation split with the best checkpoint, and store both in that checkpoint; also choose the
    operating points the report shows beside the decision rule."""
    predictor = Predictor.load(checkpoint)
    val = predictor.predict_cached(split_images(datamodule, "val"), batch_size=config.data.batch_size)
    positive = positive_class_of(config, datamodule)
    y_val = datamodule.targets["val"]
    decision = fit_decision(
        val.logits,
        y_val,
        predictor.classes,
        calibrate=config.evaluation.calibrate,
        operating_point=config.evaluation.operating_point,
        positive_class=positive,
    )
    store_decision(checkpoint, decision)
    points = val_operating_points(val.logits, y_val, predictor.classes, decision, positive)
    return ValDecision(decision, points)


def evaluate_test_split(
    checkpoint: Path,
    datamodule: MedDataModule,
    config: Config,
    run_dir: Path,
    fitted: ValDecision,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Score the best checkpoint (with its stored temperature and threshold) on the test split; writes
    test_metrics.json and predictions_test.csv. ``fitted`` adds how both were chosen and the val operating
    points to the JSON; with groups in splits.csv the CIs resample groups and ``by_group`` is added;
    ``extra`` entries are added as they are."""
    if len(datamodule.rows["test"]) == 0:
        return None
    predictor = Predictor.load(checkpoint)
    result = predictor.predict_cached(split_images(datamodule, "test"), batch_size=config.data.batch_size)
    y_true, classes = datamodule.targets["test"], predictor.classes
    settings = config.evaluation
    metrics = score(
        y_true,
        result.probs,
        classes,
        predictor.meta.threshold,
        settings.bootstrap,
        BOOTSTRAP_SEED,  # not the run's seed: evaluate gives the same CIs for this model and split
        groups=image_groups_of_table(run_dir / SPLITS_FILE, result.paths),
        group_aggregate=settings.group_aggregate,
        positive_class=fitted.decision.positive_class,
        operating_points=fitted.operating_points,
    )
    metrics.update(decision_blocks(fitted.decision))
    metrics.update(checkpoint=str(checkpoint), split="test", best_epoch=checkpoint_epoch(checkpoint))
    metrics.update(extra or {})
    write_json(run_dir / TEST_METRICS_FILE, metrics)
    table = result.table(classes)
    table.insert(1, "label", [classes[i] for i in y_true])
    table.to_csv(run_dir / TEST_PREDICTIONS_FILE, index=False, float_format="%.6f")
    return metrics


def refit_model(
    config: Config, data: PreparedData, best: Path, fitted: ValDecision, run_dir: Path, console: Console
) -> tuple[Path, dict[str, Any]]:
    """``--refit``: train a fresh model on train+val for the first fit's best number of epochs.

    Its log goes to ``refit/``; it becomes ``checkpoints/best.ckpt`` (the first fit's best model is kept as
    ``checkpoints/first_fit.ckpt``) and takes the temperature and threshold fitted on val by the first fit,
    whose model had not trained on val. Returns the checkpoint and the ``refit`` block of test_metrics.json.
    """
    epochs = checkpoint_epoch(best) or config.trainer.epochs
    trainer = config.trainer.model_copy(update={"epochs": epochs, "patience": None})
    refit_config = config.model_copy(update={"trainer": trainer})
    table = data.training_table(config.split)
    val = table[table["split"] == "val"]
    # The val images train too; they stay in val only so that the loop's validation step has something to run.
    refit_table = pd.concat([table, val.assign(split="train")], ignore_index=True)
    datamodule = MedDataModule(
        data.cache,
        refit_table,
        data.classes,
        config.data,
        config.augment,
        config.seed,
        *run_normalization(config),
    )
    n_train = len(datamodule.rows["train"])
    console.print(
        f"refit: {epochs} epoch(s) on train+val ({n_train} images); its val figures are on seen images"
    )
    layout = RunLayout(run_dir)
    layout.refit.mkdir(exist_ok=True)
    seed_everything(config.seed)
    fit(build_module(refit_config, datamodule), datamodule, refit_config, layout.refit, console=console)
    layout.best_checkpoint.replace(layout.first_fit_checkpoint)
    final = keep_for_inference(
        RunLayout(layout.refit).last_checkpoint, layout.best_checkpoint, fitted.decision
    )
    return final, {
        "refit": {
            "epochs": epochs,
            "train_images": n_train,
            "first_fit_checkpoint": str(layout.first_fit_checkpoint),
        }
    }


def finish_run(run_dir: Path, best: Path, config: Config, console: Console) -> None:
    """The end-of-training figures that need the model, then (``evaluation.report``) report.html and summary.md.

    The run's results are already saved; a failure here is reported with the command that retries it, and
    does not turn a finished training into an error.
    """
    try:
        write_model_figures(run_dir, best, console=console)
        if config.evaluation.report:
            build_report(run_dir, lambda _: None, console)
    except (MedclassError, OSError, ValueError) as exc:
        console.print(
            f"[bold yellow]report not written:[/] {escape(str(exc))}\n  retry with: medclass report {run_dir}"
        )


def train_other_process(config: Config, *, resume: bool, callbacks: Sequence[L.Callback]) -> TrainResult:
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
    return TrainResult(run_dir=run_dir, best_checkpoint=best, test_metrics=None, metrics=pd.DataFrame())


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


def train(
    config: Config,
    *,
    overwrite: bool = False,
    resume: bool = False,
    callbacks: Sequence[L.Callback] = (),
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
        counts = split_counts(data.training_table(config.split))
        describe_choices(config, data.report, counts, data.classes, datamodule.num_workers, console)
        loggers = build_loggers(config, run_dir)
        best = fit(module, datamodule, config, run_dir, resume, callbacks, loggers, console)
    fitted = fit_val_decision(best, datamodule, config)
    describe_decision(fitted.decision, console)
    refit: dict[str, Any] = {}
    if config.trainer.refit:
        best, refit = refit_model(config, data, best, fitted, run_dir, console)
    test_metrics = evaluate_test_split(best, datamodule, config, run_dir, fitted, refit)
    if test_metrics is not None:
        console.print(
            f"[bold]test[/] accuracy {test_metrics['accuracy']:.4f}  macro-F1 {test_metrics['macro_f1']:.4f}  "
            f"AUROC {fmt(test_metrics.get('auroc'))}  (n={test_metrics['n']}, best checkpoint {best.name})"
        )
    finish_run(run_dir, best, config, console)
    log_run_artifacts(loggers, run_dir)
    console.print(f"results in {run_dir}")
    metrics = pd.read_csv(run_dir / METRICS_FILE)
    return TrainResult(run_dir=run_dir, best_checkpoint=best, test_metrics=test_metrics, metrics=metrics)
