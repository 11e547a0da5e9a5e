"""Figures of a fitted Density-PINN: f_τ with its band, and the mean curve over the traces."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from cellsweep.tasks.density_pinn.data import Truth
from cellsweep.tasks.density_pinn.estimates import Estimates
from cellsweep.tasks.density_pinn.modes import HELD_OUT


def density_figure(est: Estimates, truth: Truth | None, title: str) -> Figure:
    """f̂_τ with its pointwise 95 % band, each supported mode with its value and interval in the
    legend, and the truth where known. The y-axis fits the estimate, its band and the truth (up
    to 3× the estimate's peak: a band beyond that is clipped, and the legend says so)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    ax.fill_between(est.grid, est.f_lo, est.f_hi, color="C0", alpha=0.25, label="95 % band")
    ax.plot(est.grid, est.f_tau, "C0", lw=2, label="estimate")
    top = float(np.nanmax(est.f_hi))
    if truth is not None:
        ax.plot(truth.grid, truth.f_tau, "k--", lw=1.5, label="truth")
        top = max(top, float(np.max(truth.f_tau)))
    for i, (m, (lo, hi), why) in enumerate(
        zip(est.modes, est.mode_intervals, est.mode_support, strict=True)
    ):
        ax.axvspan(lo, hi, color="C3", alpha=0.08)
        ax.axvline(
            m,
            color="C3",
            lw=1.2,
            ls="-",
            alpha=0.8,
            label=f"mode {i + 1}: {m:.2f} [{lo:.2f}, {hi:.2f}]"
            + (" (held-out likelihood)" if why == HELD_OUT else ""),
        )
    for m in est.unsupported_modes:
        ax.axvline(m, color="0.5", lw=1, ls=":", label=f"peak at {m:.2f}: dip not significant")
    peak = float(np.max(est.f_tau)) if np.max(est.f_tau) > 0 else 1.0
    cap = 3 * peak
    ax.set_ylim(0, 1.08 * min(top, cap))
    if top > cap:
        ax.plot([], [], " ", label=f"band clipped (reaches {top / peak:.1f}× the peak)")
    ax.set_xlabel("transduction time τ")
    ax.set_ylabel("density f_τ")
    n = len(est.modes)
    ax.set_title(f"{title}\n{n} supported mode{'s' if n != 1 else ''}: {est.call}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
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
