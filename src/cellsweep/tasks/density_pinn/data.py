"""Traces for a fit: simulated (with truth) or read from CSV, split into fit and held-out cells."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from cellsweep.errors import DataError
from cellsweep.tasks.cache import load_or_compute
from cellsweep.tasks.density_pinn.config import DensityPinnCfg
from cellsweep.tasks.density_pinn.simulate import SimCfg, simulate, write
from cellsweep.tasks.density_pinn.traces import Traces, read_traces

log = logging.getLogger(__name__)


@dataclass
class Truth:
    """The simulated ground truth that a fit on synthetic data is scored against."""

    lambda_b: float
    lambda_d: float
    grid: np.ndarray
    f_tau: np.ndarray
    F_tau: np.ndarray
    modes: list[float]
    scale: float = 1.0

    @classmethod
    def from_json(cls, d: dict) -> Truth:
        """The truth as the simulator writes it beside the traces (JSON)."""
        return cls(
            lambda_b=float(d["lambda_b"]),
            lambda_d=float(d["lambda_d"]),
            grid=np.asarray(d["grid"], dtype=float),
            f_tau=np.asarray(d["f_tau"], dtype=float),
            F_tau=np.asarray(d["F_tau"], dtype=float),
            modes=[float(m) for m in d.get("modes", [])],
            scale=float(d.get("scale", 1.0)),
        )


SIM_VERSION = 1  # bump when the simulator changes, to invalidate cached traces


def simulate_cached(cfg: SimCfg, seed: int, cache_dir: Path | None) -> tuple[Traces, dict]:
    """``simulate`` through the shared cache (tasks/cache.py), keyed by the sim config and seed,
    so the trials of a study that vary only the estimator share one simulation."""

    def run() -> dict[str, np.ndarray]:
        traces, truth = simulate(cfg, seed)
        return {
            "times": traces.times,
            "values": traces.values,
            "names": np.array(traces.names),
            "counts": np.array(traces.counts),
            "truth": np.array(json.dumps(truth)),
        }

    key = {"v": SIM_VERSION, "sim": asdict(cfg), "seed": seed}
    z = load_or_compute(cache_dir, key, run, required=("times", "values", "names", "truth"))
    traces = Traces(
        times=z["times"],
        values=z["values"],
        names=[str(n) for n in z["names"]],
        counts=bool(z["counts"]),
    )
    return traces, json.loads(str(z["truth"][()]))


def load(
    cfg: DensityPinnCfg, seed: int, export_dir: Path | None = None, cache_dir: Path | None = None
) -> tuple[Traces, Truth | None]:
    """The traces of the task and, where known, the truth (simulation, or a truth JSON beside
    the CSV)."""
    if cfg.data.source == "simulate":
        traces, truth = simulate_cached(cfg.sim, seed, cache_dir)
        if cfg.data.export_csv and export_dir is not None:
            write(traces, truth, Path(export_dir) / "traces.csv")
        return traces, Truth.from_json(truth)
    path = Path(str(cfg.data.path))
    traces = read_traces(path)
    truth_path = path.with_suffix(".truth.json")
    if not truth_path.is_file():
        return traces, None
    try:
        return traces, Truth.from_json(json.loads(truth_path.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{truth_path}: not a truth file: {exc}") from None


def split_cells(n_cells: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit, held-out) cell indices: a seeded permutation, at least one cell on each side."""
    n_val = min(max(1, round(val_fraction * n_cells)), n_cells - 1)
    perm = np.random.default_rng(seed + 7919).permutation(n_cells)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


class TraceData(L.LightningDataModule):
    """Full-batch data: every step sees all fit cells; validation sees the held-out cells."""

    def __init__(self, fit: Traces, held_out: Traces, steps_per_epoch: int) -> None:
        super().__init__()
        self.fit, self.held_out, self.steps = fit, held_out, steps_per_epoch

    def train_dataloader(self) -> DataLoader:
        """Full batches of the fit cells, ``steps`` per epoch."""
        batch = torch.tensor(self.fit.values, dtype=torch.float64)
        return DataLoader([batch] * self.steps, batch_size=None, shuffle=False)

    def val_dataloader(self) -> DataLoader:
        """One full batch of the held-out cells per epoch."""
        batch = torch.tensor(self.held_out.values, dtype=torch.float64)
        return DataLoader([batch], batch_size=None, shuffle=False)
