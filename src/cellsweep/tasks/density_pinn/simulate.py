"""Exact simulation of the delayed birth-death process, written as trace CSVs plus truth JSON.

Per cell, births arrive as a Poisson stream of rate λ_b on [0, t_max]; each becomes a reporter
molecule after an i.i.d. delay τ ~ f_τ and then lives an Exp(λ_d) lifetime. The count at an
observation time is the number of molecules alive then. No time stepping: the counts are exact
(vectorized over all molecules of all cells with one sort per event kind).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from cellsweep.errors import ConfigError
from cellsweep.tasks.density_pinn.delays import DelayComponent, DelayLaw
from cellsweep.tasks.density_pinn.traces import Traces


def _two_modes() -> list[DelayComponent]:
    return [
        DelayComponent("gamma", mean=1.5, shape=10.0, weight=0.5),
        DelayComponent("gamma", mean=3.5, shape=40.0, weight=0.5),
    ]


@dataclass
class SimCfg:
    """The synthetic population's true rates, cell count and sampling times."""

    lambda_b: float = 200.0
    lambda_d: float = 1.0
    n_cells: int = 50
    t_max: float = 10.0
    n_times: int = 21  # equally spaced on [0, t_max], t_0 = 0
    delay: list[DelayComponent] = field(default_factory=_two_modes)
    scale: float = 1.0  # reporter units per molecule (fluorescence-like data when != 1)
    noise_sd: float = 0.0  # Gaussian measurement noise, in reporter units

    def __post_init__(self) -> None:
        if self.lambda_b <= 0 or self.lambda_d <= 0:
            raise ConfigError("task.sim.lambda_b and task.sim.lambda_d must be positive")
        if self.n_cells < 2 or self.n_times < 3 or self.t_max <= 0:
            raise ConfigError("task.sim needs n_cells >= 2, n_times >= 3 and t_max > 0")
        if self.scale <= 0 or self.noise_sd < 0:
            raise ConfigError("task.sim.scale must be positive and task.sim.noise_sd >= 0")
        self.delay = [
            c if isinstance(c, DelayComponent) else DelayComponent(**c) for c in self.delay
        ]
        DelayLaw(self.delay)

    @property
    def counts(self) -> bool:
        """Whether the data are molecule counts (Poisson likelihood) or intensities."""
        return self.scale == 1.0 and self.noise_sd == 0.0


def simulate_counts(
    lambda_b: float,
    lambda_d: float,
    law: DelayLaw,
    times: np.ndarray,
    n_cells: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Molecule counts Y (n_cells × len(times)), exactly, for births on [0, times[-1]]."""
    t_end = float(times[-1])
    n_births = rng.poisson(lambda_b * t_end, size=n_cells)
    cell = np.repeat(np.arange(n_cells), n_births)
    birth = rng.uniform(0.0, t_end, size=cell.size)
    appear = birth + law.sample(cell.size, rng)
    vanish = appear + rng.exponential(1.0 / lambda_d, size=cell.size)
    m = times.size
    # a molecule counts at t_j iff appear <= t_j < vanish
    ja = np.searchsorted(times, appear, side="left")
    jv = np.searchsorted(times, vanish, side="left")
    up = np.bincount(cell * (m + 1) + ja, minlength=n_cells * (m + 1)).reshape(n_cells, m + 1)
    down = np.bincount(cell * (m + 1) + jv, minlength=n_cells * (m + 1)).reshape(n_cells, m + 1)
    return (np.cumsum(up, axis=1) - np.cumsum(down, axis=1))[:, :m]


def mean_curve(lambda_b: float, lambda_d: float, law: DelayLaw, t: np.ndarray) -> np.ndarray:
    """y(t) = λ_b ∫_0^t F_τ(s) e^{−λ_d (t−s)} ds, the ODE's solution, by fine quadrature."""
    grid = np.linspace(0.0, float(t.max()), 20001)
    F = law.cdf(grid)
    out = np.empty(t.shape)
    for i, ti in enumerate(t):
        g = grid[grid <= ti]
        out[i] = lambda_b * np.trapezoid(F[: g.size] * np.exp(-lambda_d * (ti - g)), g)
    return out


def simulate(cfg: SimCfg, seed: int) -> tuple[Traces, dict]:
    """Traces of ``cfg.n_cells`` cells and the truth (rates, delay law, f_τ on a grid)."""
    rng = np.random.default_rng(seed)
    law = DelayLaw(cfg.delay)
    times = np.linspace(0.0, cfg.t_max, cfg.n_times)
    y = simulate_counts(cfg.lambda_b, cfg.lambda_d, law, times, cfg.n_cells, rng).astype(float)
    if not cfg.counts:
        y = (
            cfg.scale * y + rng.normal(0.0, cfg.noise_sd, size=y.shape)
            if cfg.noise_sd
            else cfg.scale * y
        )
    grid = np.linspace(0.0, cfg.t_max, 401)
    truth = {
        "lambda_b": cfg.lambda_b,
        "lambda_d": cfg.lambda_d,
        "scale": cfg.scale,
        "noise_sd": cfg.noise_sd,
        "seed": seed,
        "delay": [asdict(c) for c in cfg.delay],
        "modes": law.modes(grid),
        "grid": grid.tolist(),
        "f_tau": law.pdf(grid).tolist(),
        "F_tau": law.cdf(grid).tolist(),
        "times": times.tolist(),
        "mean": mean_curve(cfg.lambda_b, cfg.lambda_d, law, times).tolist(),
    }
    names = [f"cell{i + 1}" for i in range(cfg.n_cells)]
    return Traces(times=times, values=y, names=names, counts=cfg.counts), truth


def write(traces: Traces, truth: dict, csv_path: Path) -> Path:
    """Write the traces CSV and ``<name>.truth.json`` beside it (temp file, then rename)."""
    csv_path = Path(csv_path)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    traces.to_csv(csv_path)
    truth_path = csv_path.with_suffix(".truth.json")
    tmp = truth_path.with_suffix(f".tmp{np.random.default_rng().integers(1 << 30)}")
    tmp.write_text(json.dumps(truth, indent=1))
    tmp.replace(truth_path)
    return truth_path
