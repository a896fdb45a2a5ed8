"""Ctrl-C stops training even when Python swallows its KeyboardInterrupt in a finalizer."""

from __future__ import annotations

import signal
from pathlib import Path

import lightning as L
import pytest

from medclass.api import train
from medclass.cli.interrupt import InterruptWatch

# Python reports the interrupt it ignores in __del__; that report is the situation these tests create.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


class _CtrlCInFinalizer(L.Callback):
    """Delivers SIGINT from inside an object's ``__del__``, where Python prints "Exception ignored" and goes on."""

    def __init__(self) -> None:
        self.delivered_at_step: int | None = None
        self.batches_after: int = 0

    def on_train_batch_start(self, trainer: L.Trainer, *args: object) -> None:
        if self.delivered_at_step is not None:
            self.batches_after += 1
            return
        self.delivered_at_step = trainer.global_step

        class Finalizer:
            def __del__(self) -> None:
                signal.getsignal(signal.SIGINT)(signal.SIGINT, None)

        Finalizer()  # collected at once: the KeyboardInterrupt is raised in __del__ and ignored by Python


def test_a_swallowed_ctrl_c_still_stops_training(tmp_path: Path, phantom_data: Path, fast_config) -> None:
    watch, ctrl_c = InterruptWatch(), _CtrlCInFinalizer()
    handler_before = signal.getsignal(signal.SIGINT)
    config = fast_config(phantom_data, tmp_path / "run", ["trainer.epochs=5"])
    with pytest.raises((KeyboardInterrupt, SystemExit)):
        train(config, callbacks=[watch, ctrl_c])
    assert watch.signalled and watch.interrupted
    # The swallowed interrupt is raised again at the end of the very batch it arrived in.
    assert ctrl_c.delivered_at_step == 0 and ctrl_c.batches_after == 0
    assert signal.getsignal(signal.SIGINT) is handler_before


def test_without_the_watch_the_swallowed_ctrl_c_is_lost(
    tmp_path: Path, phantom_data: Path, fast_config
) -> None:
    """The failure the watch exists for: with Python's own handler, training runs to its end."""
    ctrl_c = _CtrlCInFinalizer()
    config = fast_config(phantom_data, tmp_path / "run", ["trainer.epochs=1"])
    train(config, callbacks=[ctrl_c])
    assert ctrl_c.batches_after > 0
