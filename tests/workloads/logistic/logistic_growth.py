"""A third workload, the proof of the workload contract (DESIGN.md §3a, cellsweep/tasks/base.py).

It fits the growth rate r and the capacity K of the logistic ODE dN/dt = r N (1 − N/K), N(0) = n0
known, to noisy synthetic counts, with a two-parameter LightningModule. It lives outside the
package on purpose: one module on PYTHONPATH and one Hydra conf folder on ``hydra.searchpath``
make it run as a single run and in any sweep with no edit to cellsweep itself:

    PYTHONPATH=tests/workloads/logistic cellsweep-train experiment=logistic/fit \
        'hydra.searchpath=[file://tests/workloads/logistic/conf]'

It uses only what the contract offers a workload: ``TaskCfg``, ``TaskRun``, ``Report``, the
shared simulation cache and the report CSV helper; it imports nothing of MLflow or Optuna.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from cellsweep.errors import ConfigError
from cellsweep.structured import parse
from cellsweep.tasks.base import Report, TaskCfg, TaskRun
from cellsweep.tasks.cache import load_or_compute
from cellsweep.tasks.tables import columns_csv

SIM_VERSION = 1


@dataclass
class SimCfg:
    """The truth and the sampling of the synthetic data."""

    r: float = 1.2
    K: float = 100.0
    n0: float = 5.0
    t_max: float = 10.0
    n_times: int = 41
    noise_sd: float = 2.0


@dataclass
class LogisticCfg(TaskCfg):
    """conf/task/logistic.yaml: ``name`` and ``objective`` come from ``TaskCfg``."""

    sim: SimCfg = field(default_factory=SimCfg)
    val_every: int = 4  # every val_every-th time point is held out for val/loss

    def __post_init__(self) -> None:
        s = self.sim
        if min(s.r, s.K, s.n0, s.t_max) <= 0 or s.noise_sd < 0:
            raise ConfigError("task.sim: r, K, n0 and t_max must be positive, noise_sd >= 0")
        if s.n0 >= s.K:
            raise ConfigError(f"task.sim.n0 ({s.n0}) must be below task.sim.K ({s.K})")
        if s.n_times < 5 or not 2 <= self.val_every < s.n_times:
            raise ConfigError("task: sim.n_times >= 5 and 2 <= val_every < sim.n_times")


@dataclass
class OptimCfg:
    """conf/model/logistic.yaml: the 'model' of this workload is its optimizer."""

    lr: float = 0.05
    steps_per_epoch: int = 50

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.steps_per_epoch < 1:
            raise ConfigError("model: lr > 0 and steps_per_epoch >= 1")


def logistic(t, r, K, n0):
    """N(t) in closed form: the ODE's exact solution (numpy arrays or tensors alike)."""
    exp = torch.exp if isinstance(t, torch.Tensor) else np.exp
    return K / (1 + (K / n0 - 1) * exp(-r * t))


def simulate(sim: SimCfg, seed: int) -> dict[str, np.ndarray]:
    """Noisy observations of the true curve at ``n_times`` equally spaced times."""
    t = np.linspace(0.0, sim.t_max, sim.n_times)
    rng = np.random.default_rng(seed)
    y = logistic(t, sim.r, sim.K, sim.n0) + rng.normal(0.0, sim.noise_sd, t.size)
    return {"t": t, "y": y}


class LogisticFit(L.LightningModule):
    """log r and log K, fitted by the mean squared error of the closed-form curve."""

    def __init__(self, t: np.ndarray, y: np.ndarray, held: np.ndarray, sim: SimCfg, lr: float):
        super().__init__()
        self.n0, self.truth, self.lr = sim.n0, (sim.r, sim.K), lr
        self.scale = float(np.abs(y).max())  # residuals in units of the data's size
        k0 = 1.1 * float(y.max())
        self.log_r = nn.Parameter(torch.tensor(math.log(2.0 / sim.t_max), dtype=torch.float64))
        self.log_K = nn.Parameter(torch.tensor(math.log(k0), dtype=torch.float64))
        self.register_buffer("t_fit", torch.tensor(t[~held]))
        self.register_buffer("y_fit", torch.tensor(y[~held]))
        self.register_buffer("t_val", torch.tensor(t[held]))
        self.register_buffer("y_val", torch.tensor(y[held]))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """N(t) under the current r̂ and K̂."""
        return logistic(t, self.log_r.exp(), self.log_K.exp(), self.n0)

    def _mse(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (((self(t) - y) / self.scale) ** 2).mean()

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """Scaled MSE on the fit points, logged as train/loss."""
        loss = self._mse(self.t_fit, self.y_fit)
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=1)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        """Held-out MSE (the objective) and the errors of r̂ and K̂ against the truth."""
        r, K = self.estimates()
        self.log("val/loss", self._mse(self.t_val, self.y_val), batch_size=1)
        self.log("val/r_rel_err", abs(r / self.truth[0] - 1), batch_size=1)
        self.log("val/K_rel_err", abs(K / self.truth[1] - 1), batch_size=1)

    def estimates(self) -> tuple[float, float]:
        """(r̂, K̂)."""
        return float(self.log_r.detach().exp()), float(self.log_K.detach().exp())

    def configure_optimizers(self):
        """Adam: two smooth parameters, and ``model.lr`` is what the sweep searches."""
        return torch.optim.Adam(self.parameters(), lr=self.lr)


class StepsData(L.LightningDataModule):
    """The module holds its data: an epoch is ``steps`` full-batch steps and one validation."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps

    def train_dataloader(self) -> DataLoader:
        """``steps`` dummy batches: the module holds its own data."""
        return DataLoader([torch.zeros(1)] * self.steps, batch_size=None)

    def val_dataloader(self) -> DataLoader:
        """One dummy batch: one validation per epoch."""
        return DataLoader([torch.zeros(1)], batch_size=None)


def check(task: Mapping[str, Any], model: Mapping[str, Any]) -> None:
    """The config checks of ``build`` without the data (the contract's ``check``)."""
    parse(LogisticCfg, task, "task")
    parse(OptimCfg, dict(model), "model")


def _report(module: LogisticFit, t: np.ndarray, y: np.ndarray, sim: SimCfg) -> Report:
    r, K = module.estimates()
    fitted = logistic(t, r, K, sim.n0)
    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=100)
    ax.plot(t, y, "o", ms=3, label="data")
    ax.plot(t, logistic(t, sim.r, sim.K, sim.n0), "k--", label="truth")
    ax.plot(t, fitted, label=f"fit: r = {r:.3g}, K = {K:.4g}")
    ax.set_xlabel("t")
    ax.set_ylabel("N(t)")
    ax.legend()
    fig.tight_layout()
    return Report(
        figures={"fit.png": fig},
        files={"fit.csv": columns_csv({"t": t, "y": y, "N_fit": fitted})},
        metrics={"final/r": r, "final/K": K},
        lines=[f"r = {r:.4g} (truth {sim.r:g}), K = {K:.4g} (truth {sim.K:g})"],
    )


def build(
    task: Mapping[str, Any],
    model: Mapping[str, Any],
    seed: int,
    cache_dir: str | Path | None = None,
    output_dir: str | Path | None = None,
) -> TaskRun:
    """The logistic TaskRun (the contract's ``build``): cached data, the fit and its report."""
    cfg = parse(LogisticCfg, task, "task")
    opt = parse(OptimCfg, dict(model), "model")
    key = {"v": SIM_VERSION, "sim": vars(cfg.sim), "seed": seed}
    data = load_or_compute(cache_dir, key, lambda: simulate(cfg.sim, seed), required=("t", "y"))
    t, y = data["t"], data["y"]
    held = np.arange(t.size) % cfg.val_every == cfg.val_every - 1
    module = LogisticFit(t, y, held, cfg.sim, opt.lr)
    return TaskRun(
        module=module,
        datamodule=StepsData(opt.steps_per_epoch),
        report=lambda: _report(module, t, y, cfg.sim),
        info={"derived.n_fit_points": int((~held).sum()), "derived.n_val_points": int(held.sum())},
    )
