"""Simulated snapshot data, cached per replicate, and the Lightning DataModule.

A study that varies only the estimator (τ, loss, network, bins) reuses one simulation: the key
of the shared cache (tasks/cache.py) is the simulation config, the seed and the replicate, and
``record_bins``/``n_steps`` are fixed by the task rather than by τ.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from cellsweep.tasks.cache import load_or_compute
from cellsweep.tasks.chemotaxis.config import ChemotaxisCfg
from cellsweep.tasks.chemotaxis.density import rebin, to_density
from cellsweep.tasks.chemotaxis.simulate import SimConfig, SimResult, simulate
from cellsweep.tasks.chemotaxis.snapshots_csv import read_snapshots, write_snapshots

log = logging.getLogger(__name__)

SIM_VERSION = 2  # bump when the simulators change, to invalidate cached data
TRAIN, VAL = 0, 1  # replicate indices: independent streams of the same seed


def replicate_seed(seed: int, replicate: int) -> int:
    """Independent, reproducible seeds per (seed, replicate) via NumPy's SeedSequence."""
    return int(np.random.SeedSequence([int(seed), int(replicate)]).generate_state(1)[0])


def data_key(cfg: SimConfig, seed: int, replicate: int) -> dict:
    """What determines a replicate's counts: the shared cache's key (tasks/cache.py)."""
    return {"v": SIM_VERSION, "sim": cfg.key_fields(), "seed": seed, "rep": replicate}


class _Progress:
    """Logs simulation progress every 10 %: visible in Hydra logs and on a terminal alike."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.next = 0.1

    def __call__(self, k: int, total: int) -> None:
        if k >= self.next * total:
            log.info("%s: %3.0f%% (%d/%d steps)", self.label, 100 * k / total, k, total)
            while self.next * total <= k:
                self.next += 0.1


def load_or_simulate(
    cfg: SimConfig, seed: int, replicate: int, cache_dir: Path | None
) -> SimResult:
    """The replicate's counts from the shared cache, or simulated and stored there."""

    def run() -> dict[str, np.ndarray]:
        label = f"Model {cfg.model}, N={cfg.n_particles}, replicate {replicate}"
        result = simulate(cfg, replicate_seed(seed, replicate), progress=_Progress(label))
        return {"counts": result.counts}

    key = data_key(cfg, seed, replicate)
    counts = load_or_compute(cache_dir, key, run, required=("counts",))["counts"]
    return SimResult(counts, cfg.dt, cfg.record_every, cfg.length, cfg.n_particles)


@dataclass
class SnapshotSet:
    """Densities of one replicate at the pair times: ρ̂(t), ρ̂(t+τ) and, for central, ρ̂(t−τ)."""

    rho0: torch.Tensor
    rho1: torch.Tensor
    rho_prev: torch.Tensor | None

    def batch(self, idx: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """A training batch: every pair, or the pairs ``idx`` picks (minibatches)."""
        pick = (lambda t: t) if idx is None else (lambda t: t[idx])
        out = {"rho0": pick(self.rho0), "rho1": pick(self.rho1)}
        if self.rho_prev is not None:
            out["rho_prev"] = pick(self.rho_prev)
        return out


def snapshot_pairs(rho: torch.Tensor, task: ChemotaxisCfg) -> SnapshotSet:
    """Index the recorded densities [T, M] at the pair times of the task config."""
    every = task.sim.record_every
    lag = task.window_steps // every
    back = lag if task.loss.form == "central" else 0
    starts = (
        (task.pairs.start_steps // every)
        + back
        + torch.arange(task.pairs.count) * (task.pairs.stride_steps // every)
    )
    return SnapshotSet(rho[starts], rho[starts + lag], rho[starts - lag] if back else None)


def prediction_windows(rho: torch.Tensor, task: ChemotaxisCfg) -> tuple[torch.Tensor, torch.Tensor]:
    """(ρ̂(t_a), ρ̂(t_a + horizon)) for each held-out window."""
    every = task.sim.record_every
    a = torch.tensor(task.val.start_steps) // every
    return rho[a], rho[a + task.val.horizon_steps // every]


class _Steps(Dataset):
    """An epoch of ``steps`` batches: all pairs, or ``batch_size`` of them drawn with a seed."""

    def __init__(self, pairs: SnapshotSet, steps: int, batch_size: int, seed: int) -> None:
        self.pairs, self.steps, self.batch_size = pairs, steps, batch_size
        self.n = pairs.rho0.shape[0]
        self.gen = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if self.batch_size <= 0 or self.batch_size >= self.n:
            return self.pairs.batch()
        return self.pairs.batch(torch.randperm(self.n, generator=self.gen)[: self.batch_size])


class ChemotaxisData(L.LightningDataModule):
    """Training pairs from one replicate; validation pairs and windows from an independent one.

    Snapshots come from the simulator (cached on disk) or from the CSV files in ``task.data``.
    """

    def __init__(
        self,
        task: ChemotaxisCfg,
        seed: int,
        cache_dir: Path | None,
        export_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.task, self.seed, self.cache_dir, self.export_dir = task, seed, cache_dir, export_dir
        self.train_pairs: SnapshotSet | None = None

    def raw(self, replicate: int) -> np.ndarray:
        """Fine-binned snapshots [T, R] of a replicate: simulated (cached) or read from CSV."""
        task, data = self.task, self.task.data
        if data.source == "simulate":
            res = load_or_simulate(task.sim, self.seed, replicate, self.cache_dir)
            if data.export_csv and self.export_dir is not None:
                name = "snapshots_train.csv" if replicate == TRAIN else "snapshots_val.csv"
                write_snapshots(self.export_dir / name, res.times, res.counts)
            return res.counts
        path = data.train_csv if replicate == TRAIN or not data.val_csv else data.val_csv
        if replicate == VAL and not data.val_csv:
            log.warning("no task.data.val_csv: validating on the training snapshots")
        _, values = read_snapshots(path, task.sim.record_every * task.sim.dt)
        task.check_horizon((values.shape[0] - 1) * task.sim.record_every, f"the rows of {path}")
        return values

    def densities(self, replicate: int) -> torch.Tensor:
        """A replicate on the estimator's bins, normalized: what the losses compare."""
        return to_density(rebin(self.raw(replicate), self.task.bins), self.task.sim.length)

    def setup(self, stage: str | None = None) -> None:
        """Simulate (or read) once, however often Lightning calls it."""
        if self.train_pairs is not None:
            return
        train = self.densities(TRAIN)
        val = self.densities(VAL)
        self.train_pairs = snapshot_pairs(train, self.task)
        self.val_pairs = snapshot_pairs(val, self.task)
        self.val_windows = prediction_windows(val, self.task)

    def train_dataloader(self) -> DataLoader:
        """``optim.steps_per_epoch`` batches: an epoch means the same whatever the pair count."""
        o = self.task.optim
        ds = _Steps(self.train_pairs, o.steps_per_epoch, o.batch_size, self.seed)
        return DataLoader(ds, batch_size=None, shuffle=False, num_workers=0)

    def val_dataloader(self) -> DataLoader:
        """One full batch: the held-out pairs and prediction windows, scored once per epoch."""
        batch = self.val_pairs.batch()
        batch["win_a"], batch["win_b"] = self.val_windows
        return DataLoader([batch], batch_size=None, shuffle=False, num_workers=0)
