"""The public Lightning callback that lets any Hydra + Lightning app take part in a study.

Add ``OptunaPruning(monitor="val/loss")`` to the app's Trainer. Under cellsweep's sweeper it
logs every epoch's metrics into the trial's MLflow child run and reports ``monitor`` to the
trial, which stops the fit when the study's pruner says so; outside a sweep it does nothing.
Like ``train.py``, this module is where sweeps and tracking meet, so neither imports the other.
"""

from __future__ import annotations

import logging
import math

import lightning as L
import optuna

from cellsweep.sweep.api import current_trial
from cellsweep.tracking.callback import scalar_metrics

log = logging.getLogger("cellsweep")


class EpochReporter(L.Callback):
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


class OptunaPruning(L.Callback):
    """Per-epoch metrics into the trial's run and pruning on ``monitor``, in any Lightning app.

    ``monitor`` defaults to the study's (first) objective name, which is what a cellsweep-style
    app logs; a plain app that returns a float names the metric to prune on.
    """

    def __init__(self, monitor: str | None = None, log_metrics: bool = True) -> None:
        self.monitor, self.log_metrics = monitor, log_metrics
        self._pruning: EpochReporter | None = None
        self._warned = False

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Binds pruning to the trial the sweep is running, if any, before the first epoch."""
        ctx = current_trial()
        self._pruning = None
        if ctx is not None:
            monitor = self.monitor or ctx.objectives[0]
            self._pruning = EpochReporter(ctx.trial, monitor, enabled=ctx.pruning)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Sends the epoch's metrics to the trial's run; Optuna may prune on the monitored one."""
        ctx = current_trial()
        if ctx is None or trainer.sanity_checking:
            return
        if self.log_metrics and ctx.log_metrics is not None:
            metrics = scalar_metrics(trainer.callback_metrics)
            finite = {k: v for k, v in metrics.items() if math.isfinite(v)}
            ctx.log_metrics(finite, trainer.current_epoch)
        if self._pruning is None:
            return
        if self._pruning.monitor not in trainer.callback_metrics and not self._warned:
            self._warned = True
            log.warning(
                "OptunaPruning: %r is not logged; pass monitor= the metric to prune on",
                self._pruning.monitor,
            )
        self._pruning.on_train_epoch_end(trainer, pl_module)
