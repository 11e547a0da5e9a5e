"""The chemotaxis module's train/loss: the epoch's batch-weighted mean of the step losses, though
it is logged once per epoch (a ``self.log`` per step cost as much as the step itself)."""

from __future__ import annotations

import pytest
import torch
from hydra import compose, initialize_config_dir

from cellsweep.paths import config_dir, register_resolvers
from cellsweep.train import fit_model, prepare_fit
from helpers.run import TINY, store_overrides


def test_train_loss_is_the_mean_of_the_epochs_step_losses(tmp_path) -> None:
    register_resolvers()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                "experiment=chemotaxis/model1",
                *TINY,
                *[o for o in store_overrides(tmp_path) if not o.startswith("hydra.")],
                f"paths.output_dir={tmp_path / 'out'}",
                "tracking.enabled=false",
                "task.optim.batch_size=7",  # batches of 7 of the 20 pairs: a weighted mean
                "trainer.max_epochs=2",
            ],
        )
    fit = prepare_fit(cfg)
    mod, steps = fit.task.module, []
    loss_of = mod._loss

    def recorded(batch):
        loss = loss_of(batch)
        if mod.training:
            steps.append((fit.trainer.current_epoch, float(loss), batch["rho0"].shape[0]))
        return loss

    mod._loss = recorded
    metrics, _ = fit_model(fit, None)
    last = [(loss, n) for epoch, loss, n in steps if epoch == 1]
    assert len(last) == 5  # task.optim.steps_per_epoch in TINY
    want = sum(loss * n for loss, n in last) / sum(n for _, n in last)
    assert metrics["train/loss"] == pytest.approx(want, rel=1e-9)
    assert torch.isfinite(torch.tensor(metrics["train/loss"]))
