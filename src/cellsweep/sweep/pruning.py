"""Report the objective to Optuna after every epoch, and stop the fit when the pruner says so."""

from __future__ import annotations

import math

import lightning as L
import optuna


class OptunaPruning(L.Callback):
    """Reports ``monitor`` each epoch (step = epoch); raises ``optuna.TrialPruned`` to stop.

    Only single-objective studies prune (Optuna's pruners do not support several objectives).
    """

    def __init__(self, trial: optuna.Trial, monitor: str, enabled: bool = True) -> None:
        self.trial, self.monitor, self.enabled = trial, monitor, enabled
        self.reported = 0

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Report each epoch, so the pruner can stop a hopeless fit early."""
        if trainer.sanity_checking or not self.enabled:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            return
        value = float(value)
        if not math.isfinite(value):
            return  # a non-finite objective fails the trial at its end, not here
        self.trial.report(value, step=trainer.current_epoch)
        self.reported += 1
        if self.trial.should_prune():
            raise optuna.TrialPruned(
                f"pruned at epoch {trainer.current_epoch} with {self.monitor}={value:.6g}"
            )
