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


def test_checkpoints_and_resume_in_a_plain_lightning_app(tmp_path) -> None:
    """The callback saves the trial's checkpoint (checkpoint_every elapsed) and names it on
    the trial; an app that passes ``resume_checkpoint()`` to ``fit`` goes on from its epoch,
    with the optimizer's state, and a fresh app starts at 0."""
    from cellsweep.callbacks import resume_checkpoint
    from cellsweep.sweep.study import attrs

    study = optuna.create_study()
    trial = study.ask()
    path = tmp_path / "0" / "checkpoints" / "s-trial0.ckpt"
    ctx = TrialContext(
        trial, "s", ["value"], ["minimize"], pruning=False, checkpoint_path=str(path)
    )
    ctx.checkpoint_every = 1e-9  # every epoch's end
    with trial_scope(ctx):
        assert resume_checkpoint() is None
        first = fit(epochs=4)
    assert path.is_file() and not path.with_name(path.name + ".tmp").exists()
    assert study.trials[0].user_attrs[attrs.CHECKPOINT] == {"path": str(path), "epoch": 4}
    saved = torch.load(path, weights_only=False)
    assert saved["epoch"] == 3 and saved["optimizer_states"]

    retry = study.ask()
    resumed = TrialContext(
        retry, "s", ["value"], ["minimize"], pruning=False, resume_from=str(path), resume_epoch=4
    )
    starts: list[int] = []

    class Start(L.Callback):
        def on_train_epoch_start(self, trainer, pl_module) -> None:
            starts.append(trainer.current_epoch)

    x = torch.linspace(0, 1, 16).unsqueeze(1)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, 2 * x), batch_size=8)
    with trial_scope(resumed):
        trainer = L.Trainer(
            max_epochs=6,
            callbacks=[OptunaPruning(monitor="train/loss"), Start()],
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        trainer.fit(Tiny(), data, ckpt_path=resume_checkpoint(), weights_only=False)
    assert starts == [4, 5]  # epochs 0-3 came from the checkpoint
    assert first.current_epoch == 4 and trainer.current_epoch == 6
