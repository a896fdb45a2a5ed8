"""Callbacks: per-epoch CSV row and summary line, per-epoch reseeding, unfreezing, per-epoch checkpoints."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import EMAWeightAveraging
from rich.console import Console

from medclass.runs import epoch_checkpoint_name
from medclass.utils.console import default_console
from medclass.utils.progress import clock, eta_seconds
from medclass.utils.seed import seed_everything

METRIC_COLUMNS = (
    "epoch",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "val_macro_f1",
    "val_auroc",
    "lr",
    "seconds",
)


def _metric(trainer: L.Trainer, name: str) -> float | None:
    value = trainer.callback_metrics.get(name)
    return None if value is None else float(value)


def current_lr(trainer: L.Trainer) -> float:
    """Learning rate of the first parameter group."""
    return float(trainer.optimizers[0].param_groups[0]["lr"]) if trainer.optimizers else float("nan")


# Why the rate is read when an epoch starts: Lightning steps epoch schedulers at the end of the epoch loop,
# before ``on_train_epoch_end``, so the rate read there is the next epoch's (a per-step schedule such as
# onecycle changes within the epoch; the rate shown is the one its first step used).


class EpochMetricsCSV(L.Callback):
    """Writes one row per epoch to ``metrics.csv`` (epochs counted from 1).

    The rows travel in the checkpoint (callback state), so a resumed run rewrites the file from the rows of the
    epochs its checkpoint has seen: an epoch logged but interrupted before its checkpoint is not counted twice.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = []
        self._started = 0.0
        self._lr = float("nan")

    def state_dict(self) -> dict[str, Any]:
        return {"rows": list(self.rows)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict.get("rows", []))

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            self._write()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started = time.perf_counter()
        self._lr = current_lr(trainer)  # the rate this epoch trains with (see current_lr's note)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        row: dict[str, Any] = {"epoch": trainer.current_epoch + 1}
        for column in METRIC_COLUMNS[1:-2]:
            value = _metric(trainer, column)
            row[column] = "" if value is None else f"{value:.6g}"
        row["lr"] = f"{self._lr:.6g}"
        row["seconds"] = f"{time.perf_counter() - self._started:.2f}"
        self.rows.append(row)
        if trainer.is_global_zero:
            self._write()

    def _write(self) -> None:
        with open(self.path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=METRIC_COLUMNS)
            writer.writeheader()
            writer.writerows(self.rows)


class EpochSummary(L.Callback):
    """Prints one line per epoch (counted from 1): losses, scores, the epoch's learning rate, its time, the time
    left for the run, and whether it is the best so far. In a terminal it goes through the progress display's
    console, above the bars."""

    def __init__(self, monitor: str, mode: str, console: Console | None = None) -> None:
        self.monitor, self.mode = monitor, mode
        self.console = console or default_console()
        self.best: float | None = None
        self._started = 0.0
        self._lr = float("nan")
        self._fit_started = 0.0
        self._first_epoch = 0

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best = state_dict.get("best")

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._fit_started, self._first_epoch = time.perf_counter(), trainer.current_epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started = time.perf_counter()
        self._lr = current_lr(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        value = _metric(trainer, self.monitor)
        improved = value is not None and (
            self.best is None or (value < self.best if self.mode == "min" else value > self.best)
        )
        if improved:
            self.best = value
        if not trainer.is_global_zero:
            return

        def show(name: str, label: str) -> str:
            number = _metric(trainer, name)
            return f"{label} {number:.4f}" if number is not None else f"{label} -"

        epoch, now = trainer.current_epoch + 1, time.perf_counter()
        left = eta_seconds(
            now - self._fit_started, epoch - self._first_epoch, trainer.max_epochs - self._first_epoch
        )
        self.console.print(
            f"epoch {epoch}/{trainer.max_epochs}  "
            f"{show('train_loss', 'loss')} {show('train_accuracy', 'acc')} | "
            f"{show('val_loss', 'val_loss')} {show('val_accuracy', 'acc')} {show('val_macro_f1', 'f1')} "
            f"{show('val_auroc', 'auc')} | lr {self._lr:.2e} | {now - self._started:.1f}s"
            + (f", run eta {clock(left)}" if left and epoch < trainer.max_epochs else "")
            + ("  [green]*best[/]" if improved else ""),
            highlight=False,
        )


class EpochSeed(L.Callback):
    """Reseeds the global RNGs (seed + epoch) right before an epoch's first batch, so dropout and any other
    randomness of an epoch do not depend on what ran before: a resumed run repeats an uninterrupted one exactly.

    Not in ``on_train_epoch_start``: creating the loader's iterator draws from the global RNG, and Lightning
    creates it before that hook in a resumed run but after it in a fresh one.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if batch_idx == 0:
            seed_everything(self.seed + trainer.current_epoch)


class UnfreezeBackbone(L.Callback):
    """Makes every parameter trainable once ``after_epochs`` epochs are done (two-stage fine-tuning)."""

    def __init__(self, after_epochs: int) -> None:
        self.after_epochs = after_epochs

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch >= self.after_epochs:
            for parameter in pl_module.parameters():
                parameter.requires_grad_(True)


class EpochCheckpoint(L.Callback):
    """Keeps ``epoch=NN.ckpt`` for every epoch (NN counted from 1, as in metrics.csv)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Weights and metadata only: these are for evaluating an epoch, resuming uses last.ckpt.
        trainer.save_checkpoint(
            self.directory / epoch_checkpoint_name(trainer.current_epoch + 1), weights_only=True
        )


class WeightsEMA(EMAWeightAveraging):
    """Lightning's EMA of the weights (swapped in for validation, stored in full checkpoints), plus the average
    as a state dict for the weights-only checkpoints (``best.ckpt``, ``epoch=NN.ckpt``), whose saves skip the
    callbacks' hooks: :class:`~medclass.training.module.LitClassifier` stores it there itself."""

    def averaged_state(self) -> dict[str, Any] | None:
        """The module's state dict with the averaged values, or None before training starts."""
        average = self._average_model  # Lightning's AveragedModel of the LightningModule, made in setup()
        if average is None:
            return None
        prefix = "module."  # AveragedModel keeps the averaged module under this name
        return {k.removeprefix(prefix): v for k, v in average.state_dict().items() if k.startswith(prefix)}
