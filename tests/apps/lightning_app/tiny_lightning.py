"""A tiny Hydra + Lightning app that adds cellsweep's OptunaPruning to its Trainer, and nothing
else of cellsweep: a line fitted to y = 2x from zero weights, ``lr`` the knob. With ``lr: 0``
the loss stays at 1.4, so a pruner with a threshold under it stops that trial early."""

from __future__ import annotations

import hydra
import lightning as L
import torch
from omegaconf import DictConfig

from cellsweep import OptunaPruning


class Line(L.LightningModule):
    def __init__(self, lr: float) -> None:
        super().__init__()
        self.lr = lr
        self.layer = torch.nn.Linear(1, 1)
        torch.nn.init.zeros_(self.layer.weight)
        torch.nn.init.zeros_(self.layer.bias)

    def training_step(self, batch, _):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train/loss", loss, on_epoch=True, on_step=False)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


@hydra.main(version_base="1.3", config_path="conf", config_name="tiny")
def main(cfg: DictConfig) -> float:
    L.seed_everything(cfg.seed)
    x = torch.linspace(0, 1, 16).unsqueeze(1)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, 2 * x), batch_size=8)
    trainer = L.Trainer(
        max_epochs=cfg.epochs,
        callbacks=[OptunaPruning(monitor="train/loss")],
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(Line(cfg.lr), data)
    return float(trainer.callback_metrics["train/loss"])


if __name__ == "__main__":
    main()
