"""What ``medclass train`` does on Ctrl-C: stop for sure, name the run folder and the command that continues it.

Lightning catches Ctrl-C during ``fit`` itself and exits with code 1 without a word; this callback records
that it happened, in which run folder, and whether a checkpoint to resume from was written.

Python raises the ``KeyboardInterrupt`` of a Ctrl-C wherever the main thread happens to be. When that is a
finalizer (a DataLoader iterator's ``__del__`` shutting down its workers), Python prints "Exception ignored"
and training goes on. So during fit the watch installs a SIGINT handler that remembers the signal before it
raises, and raises again at the next batch or epoch boundary when the first one was swallowed.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L

from medclass.cli.base import Interrupted


class InterruptWatch(L.Callback):
    """Records the run folder at the start of fit and whether fit ended by KeyboardInterrupt."""

    def __init__(self) -> None:
        self.run_dir: Path | None = None
        self.interrupted = False
        self.resumable = False
        self.signalled = False
        self._previous_handler: Any = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.run_dir = Path(trainer.default_root_dir)
        self.signalled = False

    # Installed once the run starts, after Lightning's signal connector has recorded the handlers it restores
    # at the end of fit (installed earlier, this handler would be "restored" after fit and outlive it).
    def on_sanity_check_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._install()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._install()

    def _install(self) -> None:
        installed = self._previous_handler is not None
        if (
            not installed and threading.current_thread() is threading.main_thread()
        ):  # handlers: main thread only
            self._previous_handler = signal.signal(signal.SIGINT, self._on_sigint)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self._previous_handler is not None:
            signal.signal(signal.SIGINT, self._previous_handler)
            self._previous_handler = None

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        self.signalled = True
        raise KeyboardInterrupt

    def _raise_if_swallowed(self) -> None:
        if self.signalled:
            raise KeyboardInterrupt

    def on_train_batch_end(self, *args: Any, **kwargs: Any) -> None:
        self._raise_if_swallowed()

    def on_validation_batch_end(self, *args: Any, **kwargs: Any) -> None:
        self._raise_if_swallowed()

    def on_train_epoch_end(self, *args: Any, **kwargs: Any) -> None:
        self._raise_if_swallowed()

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        self.interrupted = isinstance(exception, KeyboardInterrupt)
        # A full checkpoint (not weights only) written by this fit is what --resume continues from.
        self.resumable = any(
            not cb.save_weights_only and (cb.best_model_path or cb.last_model_path)
            for cb in trainer.checkpoint_callbacks
        )
        self.teardown(trainer, pl_module, "fit")

    def interruption(self, resumed_run: Path | None = None) -> Interrupted:
        """The exception to raise: its hint names the run folder (``resumed_run``: known before fit)."""
        run_dir = self.run_dir or resumed_run
        if run_dir is not None and (self.resumable or resumed_run is not None):
            return Interrupted(f"resume with: medclass train --resume --out {run_dir}")
        if run_dir is not None and not run_dir.exists():  # removed: it stopped before its first checkpoint
            return Interrupted(f"no epoch was saved and {run_dir} was removed: run the same command again")
        if run_dir is not None:
            return Interrupted(f"no epoch of {run_dir} was saved, so there is nothing to resume")
        return Interrupted()
