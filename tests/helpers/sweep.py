"""A tiny chemotaxis study (``sweep=chemotaxis/window``) with its stores under a tmp folder."""

from __future__ import annotations

import sys
from pathlib import Path

import optuna
from mlflow.tracking import MlflowClient

from cellsweep.sweep.study.storage import make_storage
from helpers.run import TINY, store_overrides


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


def sweep_command(tmp: Path, n_trials: int, epochs: int = 15) -> list[str]:
    """The sweep as a separate process (it gets signals), trials of ``epochs`` epochs."""
    extra = ("hydra.sweeper.pruner=none", f"trainer.max_epochs={epochs}")
    return [sys.executable, "-m", "cellsweep.train", *sweep_args(tmp, n_trials, *extra)]


def load(tmp: Path, name: str = "t-window") -> optuna.Study:
    return optuna.load_study(
        study_name=name, storage=make_storage(None, tmp / "sweeps" / "optuna.journal")
    )


def mlflow_runs(tmp: Path):
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp / 'mlruns' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("cellsweep-chemotaxis")
    return client, client.search_runs([exp.experiment_id], max_results=1000)
