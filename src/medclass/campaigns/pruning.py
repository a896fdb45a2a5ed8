"""A Lightning callback that reports the validation metric of every epoch to an Optuna trial and prunes it.

(optuna-integration's PyTorchLightningPruningCallback does the same; it is a separate package, and this one
also keeps the per-epoch values, which the objective needs for the best value of each fold.)
"""

from __future__ import annotations

import lightning as L
import optuna

# Intermediate values of fold k are reported at step k * FOLD_STRIDE + epoch, so the median pruner compares
# epoch e of fold k with epoch e of the same fold in other trials (never fold 0 with fold 1).
FOLD_STRIDE = 1000


class PruningCallback(L.Callback):
    """Reports ``monitor`` after each validation to ``trial`` and raises :class:`optuna.TrialPruned` when the
    trial's pruner says so.

    Args:
        trial: the running trial.
        monitor: the logged validation metric, e.g. ``val_loss``.
        fold: the cross-validation fold this training is (its steps are offset by ``fold * FOLD_STRIDE``).

    Attributes:
        history: the metric of each validated epoch, in order (NaN where it was not logged).
    """

    def __init__(self, trial: optuna.Trial, monitor: str, fold: int = 0) -> None:
        self.trial = trial
        self.monitor = monitor
        self.fold = fold
        self.history: list[float] = []

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            raise KeyError(
                f"trainer.monitor = {self.monitor!r} was not logged; logged metrics: "
                f"{sorted(trainer.callback_metrics)}"
            )
        value = float(value)
        self.history.append(value)
        step = self.fold * FOLD_STRIDE + trainer.current_epoch
        self.trial.report(value, step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(
                f"fold {self.fold} epoch {trainer.current_epoch + 1}: {self.monitor} {value:.4f} is worse than "
                "the median of earlier trials"
            )
