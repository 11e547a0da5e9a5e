"""`from cellsweep import OptunaPruning` in any Lightning app: per-epoch metrics into the trial's
run, reports to the trial, pruning when the pruner says so, and nothing outside a sweep."""

from __future__ import annotations

import lightning as L
import optuna
import pytest
import torch

from cellsweep import OptunaPruning
from cellsweep.sweep.api import TrialContext, trial_scope


class Tiny(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)

    def training_step(self, batch, _):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train/loss", loss, on_epoch=True, on_step=False)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit(epochs: int = 3, callback: OptunaPruning | None = None) -> L.Trainer:
    x = torch.linspace(0, 1, 16).unsqueeze(1)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, 2 * x), batch_size=8)
    trainer = L.Trainer(
        max_epochs=epochs,
        callbacks=[callback or OptunaPruning(monitor="train/loss")],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(Tiny(), data)
    return trainer


class AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study, trial) -> bool:
        return trial.last_step is not None and trial.last_step >= 1


def test_reports_logs_and_prunes_inside_a_trial() -> None:
    study = optuna.create_study(pruner=AlwaysPrune())
    trial = study.ask()
    logged: list[tuple[dict, int]] = []
    ctx = TrialContext(trial, "s", ["value"], ["minimize"], pruning=True)
    ctx.log_metrics = lambda metrics, step: logged.append((dict(metrics), step))
    with trial_scope(ctx), pytest.raises(optuna.TrialPruned, match="epoch 1"):
        fit()
    assert [step for _, step in logged] == [0, 1]
    assert all("train/loss" in metrics for metrics, _ in logged)
    assert sorted(study.trials[0].intermediate_values) == [0, 1]


def test_does_nothing_outside_a_sweep() -> None:
    """The same callback, used in a trial and then outside any: the second fit runs all its
    epochs (the pruner would stop it at epoch 1), reports nothing and logs nothing."""
    study = optuna.create_study(pruner=AlwaysPrune())
    trial = study.ask()
    logged: list[int] = []
    ctx = TrialContext(trial, "s", ["value"], ["minimize"], pruning=True)
    ctx.log_metrics = lambda metrics, step: logged.append(step)
    callback = OptunaPruning(monitor="train/loss")
    with trial_scope(ctx), pytest.raises(optuna.TrialPruned):
        fit(callback=callback)
    reported, seen = dict(study.trials[0].intermediate_values), list(logged)
    assert fit(epochs=3, callback=callback).current_epoch == 3  # not pruned
    assert study.trials[0].intermediate_values == reported and logged == seen
