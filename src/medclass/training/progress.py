"""The one progress display of a training run in a terminal.

Lightning's own bars count epochs from 0, show the previous epoch's metrics and, drawn on a console of their
own, get glued to the lines medclass prints and leave a frame behind in a log. This display replaces them: two
rows, the run (``epoch k/N``, time spent, time left for the whole run) and the current epoch (train, then val
batches). It draws on the run's console, so the per-epoch summary printed through that console lands above it,
and it is removed when fitting ends. It is used only when the console is a terminal; a log or a pipe gets the
summary lines alone, without control codes.
"""

from __future__ import annotations

import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks.progress.progress_bar import ProgressBar
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from medclass.utils.progress import clock, eta_seconds


class TrainingProgress(ProgressBar):
    """A two-row rich display (run, epoch) on ``console``; see the module docstring."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console
        self._enabled = True
        self._progress: Progress | None = None
        self._run: TaskID | None = None
        self._epoch: TaskID | None = None
        self._started = 0.0
        self._phase_started = 0.0
        self._first_epoch = 0
        self._val_batches = 0

    # Lightning switches a progress bar off and on around its own tools (the learning-rate finder).
    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    @property
    def is_enabled(self) -> bool:
        return self._enabled and self.console.is_terminal

    @property
    def is_disabled(self) -> bool:
        return not self.is_enabled

    def print(self, *args: Any, **kwargs: Any) -> None:
        self.console.print(*args, **kwargs)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.is_enabled:
            return
        self._progress = Progress(
            TextColumn("{task.description:<12}"),
            BarColumn(),
            TextColumn("{task.fields[status]}"),
            console=self.console,
            transient=True,
        )
        self._progress.start()
        self._started = time.perf_counter()
        self._first_epoch = trainer.current_epoch
        self._run = self._progress.add_task("run", total=trainer.max_epochs, status="")
        self._epoch = self._progress.add_task("train", total=1, status="")

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._progress is None:
            return
        self._progress.update(
            self._run, description=f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"
        )
        self._start_phase("train", self.total_train_batches)
        self._show(trainer)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if self._progress is not None:
            self._progress.advance(self._epoch)
            self._show(trainer)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._progress is None or trainer.sanity_checking:
            return
        self._val_batches = int(self.total_val_batches)
        self._start_phase("val", self._val_batches)
        self._show(trainer)

    def on_validation_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        if self._progress is not None and not trainer.sanity_checking:
            self._progress.advance(self._epoch)
            self._show(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stop()

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        self._stop()

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def _start_phase(self, name: str, total: float) -> None:
        self._phase_started = time.perf_counter()
        self._progress.reset(self._epoch, description=f"  {name}", total=max(int(total), 1), status="")

    def _show(self, trainer: L.Trainer) -> None:
        """Refresh both rows: the batches of this phase, the share of the run done, and the time left."""
        now = time.perf_counter()
        task = self._progress.tasks[self._epoch]
        left = eta_seconds(now - self._phase_started, task.completed, task.total)
        self._progress.update(
            self._epoch,
            status=f"{int(task.completed)}/{int(task.total)} batches  "
            f"{clock(now - self._phase_started)}  eta {clock(left) if left is not None else '-'}",
        )
        train, val = float(self.total_train_batches), float(self._val_batches)
        in_epoch = task.completed + (train if task.description.strip() == "val" else 0.0)
        epoch_share = min(in_epoch / max(train + val, 1.0), 1.0)
        done = trainer.current_epoch + epoch_share
        run_left = eta_seconds(
            now - self._started, done - self._first_epoch, trainer.max_epochs - self._first_epoch
        )
        self._progress.update(
            self._run,
            completed=done,
            status=f"{clock(now - self._started)} elapsed, run eta "
            f"{clock(run_left) if run_left is not None else '-'}",
        )
