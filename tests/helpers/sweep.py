"""A tiny chemotaxis study (``sweep=chemotaxis/window``) with its stores under a tmp folder."""

from __future__ import annotations

import sys
from pathlib import Path

import optuna

from cellsweep.sweep.study.storage import make_storage
from helpers.run import TINY, experiment_runs, mlflow_client, store_overrides


def sweep_args(tmp: Path, n_trials: int, *extra: str) -> list[str]:
    return [
        "-m",
        "sweep=chemotaxis/window",
        *TINY,
        *store_overrides(tmp),
        f"paths.sweeps_dir={tmp / 'sweeps'}",
        f"hydra.sweep.dir={tmp / 'multirun'}",
        f"hydra.sweeper.n_trials={n_trials}",
        "hydra.sweeper.study_name=t-window",
        "task.window_steps=choice(10,20,50,100)",
        "trainer.max_epochs=3",
        *extra,
    ]


def train_command(argv: list[str]) -> list[str]:
    """``cellsweep-train`` as a separate process (it gets signals, spawns, sees env vars)."""
    return [sys.executable, "-m", "cellsweep.train", *argv]


def sweep_command(tmp: Path, n_trials: int, epochs: int = 15) -> list[str]:
    """The sweep as a separate process, trials of ``epochs`` epochs without pruning."""
    extra = ("hydra.sweeper.pruner=none", f"trainer.max_epochs={epochs}")
    return train_command(sweep_args(tmp, n_trials, *extra))


def load(tmp: Path, name: str = "t-window") -> optuna.Study:
    return optuna.load_study(
        study_name=name, storage=make_storage(None, tmp / "sweeps" / "optuna.journal")
    )


def mlflow_runs(tmp: Path):
    client = mlflow_client(tmp)
    return client, experiment_runs(client, "cellsweep-chemotaxis")
