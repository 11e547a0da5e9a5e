"""A Lightning callback that sends every epoch's metrics to an MLflow run in one batch.

We log through our own callback rather than Lightning's ``MLFlowLogger`` so that the step is the
epoch, the run is the one the entry point created (parent/child runs stay under our control),
and no folder store is ever created by a fallback.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L

from cellsweep.tracking.run import TrackedRun


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Lightning's callback_metrics as plain floats (tensors, numbers; NaN kept as NaN)."""
    out = {}
    for k, v in metrics.items():
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            continue
    return out


class MLflowEpochMetrics(L.Callback):
    """Logs ``trainer.callback_metrics`` at the end of each training epoch, step = epoch."""

    def __init__(self, run: TrackedRun | None = None) -> None:
        self.run = run  # may be attached after the Trainer is built

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """One batch per epoch: the run's curves, at a cost that does not grow per step."""
        if trainer.sanity_checking or self.run is None:
            return
        metrics = scalar_metrics(trainer.callback_metrics)
        lrs = [g["lr"] for opt in trainer.optimizers for g in opt.param_groups]
        if lrs:
            metrics["lr"] = lrs[0]
        metrics = {k: v for k, v in metrics.items() if not math.isinf(v)}
        if metrics:
            self.run.log_metrics(metrics, step=trainer.current_epoch)
