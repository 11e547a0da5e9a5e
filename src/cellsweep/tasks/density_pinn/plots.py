"""Figures of a fitted Density-PINN: f_τ with its band, and the mean curve over the traces."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from cellsweep.tasks.density_pinn.data import Truth
from cellsweep.tasks.density_pinn.estimates import Estimates


def density_figure(est: Estimates, truth: Truth | None, title: str) -> Figure:
    """f̂_τ with its pointwise 95 % band, the modes read off it, and the truth where known."""
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    ax.fill_between(est.grid, est.f_lo, est.f_hi, color="C0", alpha=0.25, label="95 % band")
    ax.plot(est.grid, est.f_tau, "C0", lw=2, label="estimate")
    if truth is not None:
        ax.plot(truth.grid, truth.f_tau, "k--", lw=1.5, label="truth")
    for m in est.modes:
        ax.axvline(m, color="C3", lw=1, alpha=0.6)
    ax.set_xlabel("transduction time τ")
    ax.set_ylabel("density f_τ")
    ax.set_title(f"{title}\n{len(est.modes)} mode(s): {est.call} pathway(s)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def mean_curve_figure(times: np.ndarray, values: np.ndarray, est: Estimates, title: str) -> Figure:
    """Every cell's trace drawn faintly, the cell mean, and the fitted reporter mean y(t)."""
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for row in values:
        ax.plot(times, row, color="0.5", lw=0.6, alpha=0.25)
    ax.plot(times, values.mean(0), "ko", ms=3, label="cell mean")
    ax.plot(est.times, est.mean, "C0", lw=2, label="fitted y(t)")
    ax.set_xlabel("time")
    ax.set_ylabel("reporter")
    ax.set_title(
        f"{title}\nλ_b = {est.lambda_b:.4g} [{est.lambda_b_ci[0]:.4g}, {est.lambda_b_ci[1]:.4g}], "
        f"λ_d = {est.lambda_d:.4g} [{est.lambda_d_ci[0]:.4g}, {est.lambda_d_ci[1]:.4g}]",
        fontsize=9,
    )
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig
