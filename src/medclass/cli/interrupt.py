"""What ``medclass train`` says on Ctrl-C: the run folder and the command that continues it.

Lightning catches Ctrl-C during ``fit`` itself and exits with code 1 without a word; this callback records
that it happened, in which run folder, and whether a checkpoint to resume from was written.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L

from medclass.cli.base import Interrupted


class InterruptWatch(L.Callback):
    """Records the run folder at the start of fit and whether fit ended by KeyboardInterrupt."""

    def __init__(self) -> None:
        self.run_dir: Path | None = None
        self.interrupted = False
        self.resumable = False

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.run_dir = Path(trainer.default_root_dir)

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        self.interrupted = isinstance(exception, KeyboardInterrupt)
        # A full checkpoint (not weights only) written by this fit is what --resume continues from.
        self.resumable = any(
            not cb.save_weights_only and (cb.best_model_path or cb.last_model_path)
            for cb in trainer.checkpoint_callbacks
        )

    def interruption(self, resumed_run: Path | None = None) -> Interrupted:
        """The exception to raise: its hint names the run folder (``resumed_run``: known before fit)."""
        run_dir = self.run_dir or resumed_run
        if run_dir is not None and (self.resumable or resumed_run is not None):
            return Interrupted(f"resume with: medclass train --resume --out {run_dir}")
        if run_dir is not None:
            return Interrupted(f"no epoch of {run_dir} was saved, so there is nothing to resume")
        return Interrupted()
