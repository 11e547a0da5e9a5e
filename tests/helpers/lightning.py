"""A Trainer for unit tests of a LightningModule: CPU, quiet, nothing written to disk."""

from __future__ import annotations

import lightning as L


def quiet_trainer(epochs: int) -> L.Trainer:
    """``epochs`` epochs with no logger, checkpoint, progress bar, summary or sanity check."""
    return L.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
