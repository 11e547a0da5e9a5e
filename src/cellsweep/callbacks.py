"""The public Lightning callback that lets any Hydra + Lightning app take part in a study.

Add ``OptunaPruning(monitor="val/loss")`` to the app's Trainer. Under cellsweep's sweeper it
logs every epoch's metrics into the trial's MLflow child run and reports ``monitor`` to the
trial, which stops the fit when the study's pruner says so; outside a sweep it does nothing.
Like ``train.py``, this module is where sweeps and tracking meet, so neither imports the other.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

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


def resume_checkpoint() -> str | None:
    """The checkpoint the running trial resumes from, or None (a fresh trial, or no sweep).

    A Lightning app passes it to ``trainer.fit(model, ckpt_path=resume_checkpoint())``: the
    retry of an interrupted trial then goes on from the epoch, optimizer and scheduler state
    its checkpoint holds instead of epoch 0 (``OptunaPruning`` writes the checkpoints).
    """
    ctx = current_trial()
    return ctx.resume_from if ctx is not None else None


class TrialCheckpoints:
    """Saves the trial's checkpoint at an epoch's end once ``every`` seconds have passed since
    the last one (the fit's start for the first), then names it on the trial, so that the
    retry of an interrupted trial resumes there; at most ``every`` seconds of work are lost."""

    def __init__(self, path: str, every: float, record: Callable[[str, int], None]) -> None:
        self.path, self.every, self.record = Path(path), every, record
        self.last = time.monotonic()
        self.saved = 0

    def maybe_save(self, trainer: L.Trainer) -> None:
        """Save if ``every`` seconds have passed; called at an epoch's end."""
        if time.monotonic() - self.last < self.every:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        trainer.save_checkpoint(tmp)
        os.replace(tmp, self.path)  # a worker killed while saving leaves the last good one
        epochs = trainer.current_epoch + 1  # saved at this epoch's end: the next one resumes
        self.record(str(self.path), epochs)
        self.last = time.monotonic()
        self.saved += 1


class OptunaPruning(L.Callback):
    """Per-epoch metrics into the trial's run, pruning on ``monitor``, and the trial's
    checkpoints (every ``hydra.sweeper.checkpoint_every`` seconds), in any Lightning app.

    ``monitor`` defaults to the study's (first) objective name, which is what a cellsweep-style
    app logs; a plain app that returns a float names the metric to prune on. To resume an
    interrupted trial, the app passes ``ckpt_path=resume_checkpoint()`` to ``trainer.fit``.
    """

    def __init__(self, monitor: str | None = None, log_metrics: bool = True) -> None:
        self.monitor, self.log_metrics = monitor, log_metrics
        self._pruning: EpochReporter | None = None
        self._checkpoints: TrialCheckpoints | None = None
        self._warned = False

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Binds pruning and checkpoints to the trial the sweep is running, if any, before the
        first epoch."""
        ctx = current_trial()
        self._pruning = self._checkpoints = None
        if ctx is None:
            return
        monitor = self.monitor or ctx.objectives[0]
        self._pruning = EpochReporter(ctx.trial, monitor, enabled=ctx.pruning)
        if ctx.checkpoint_path and ctx.checkpoint_every > 0:
            self._checkpoints = TrialCheckpoints(
                ctx.checkpoint_path, ctx.checkpoint_every, ctx.record_checkpoint
            )
        if ctx.resume_from and trainer.current_epoch < ctx.resume_epoch:
            log.warning(
                "trial %d: a checkpoint of epoch %d was there to resume from, but the fit "
                "starts at epoch %d; pass ckpt_path=cellsweep.callbacks.resume_checkpoint() "
                "to trainer.fit",
                ctx.trial.number,
                ctx.resume_epoch,
                trainer.current_epoch,
            )

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
        self._pruning.on_train_epoch_end(trainer, pl_module)  # a pruned fit saves nothing
        if self._checkpoints is not None:
            self._checkpoints.maybe_save(trainer)
