"""What both estimators report after a fit: rates with intervals, f_τ with a band, the modes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cellsweep.tasks.density_pinn.delays import find_modes


@dataclass
class Estimates:
    lambda_b: float
    lambda_d: float
    lambda_b_ci: tuple[float, float]
    lambda_d_ci: tuple[float, float]
    grid: np.ndarray
    f_tau: np.ndarray
    f_lo: np.ndarray
    f_hi: np.ndarray
    times: np.ndarray  # observation times
    mean: np.ndarray  # fitted reporter mean at the observation times
    interval_method: str
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def modes(self) -> list[float]:
        return find_modes(self.grid, self.f_tau)

    @property
    def call(self) -> str:
        """One mode: a serial pathway; two or more: parallel pathways of different speeds."""
        return "parallel" if len(self.modes) >= 2 else "serial"


def wasserstein1(grid: np.ndarray, f_a: np.ndarray, f_b: np.ndarray) -> float:
    """W1 = ∫|F_a − F_b| dt over the grid, the CDFs as cumulative trapezoids of the densities.

    Mass beyond the grid's end is not renormalized away: an estimate that puts mass past the
    last observation pays for it."""

    def cdf(f: np.ndarray) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum(0.5 * np.diff(grid) * (f[1:] + f[:-1]))])

    return float(np.trapezoid(np.abs(cdf(f_a) - cdf(f_b)), grid))
