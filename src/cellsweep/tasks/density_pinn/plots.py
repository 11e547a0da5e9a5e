"""Figures of a fitted Density-PINN: f_τ with its band, and the mean curve over the traces.

A figure carries the run's warnings, since a reader may see only the figure (issue 29): a fit
that has not converged says so in the title and the legend and draws no band; a rate without an
interval shows none; each rate names its own interval method; a shape without a serial/parallel
call shows its peaks, not modes.
"""

from __future__ import annotations

import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from cellsweep.tasks.density_pinn.data import Truth
from cellsweep.tasks.density_pinn.delays import find_modes
from cellsweep.tasks.density_pinn.estimates import NO_CALL, RATE_LABELS, RATES, Estimates
from cellsweep.tasks.density_pinn.modes import HELD_OUT

MODE_COLOURS = ("C3", "C1", "C2", "C4", "C5", "C6")  # one per mode line, none the estimate's C0
NOT_CONVERGED = "NOT CONVERGED"


def _headline(est: Estimates, title: str) -> str:
    """The title, led by the warning where the fit has not converged."""
    return f"{NOT_CONVERGED}: {title}" if not est.converged else title


def rate_text(est: Estimates, rate: str) -> str:
    """``λ_b = 201.3 [180.2, 224.9] (laplace)``, or ``… (not identified on this fit)``."""
    value = f"{RATE_LABELS[rate]} = {getattr(est, rate):.4g}"
    ci = est.ci(rate)
    if ci is None:
        return f"{value} (not identified on this fit)"
    return f"{value} [{ci[0]:.4g}, {ci[1]:.4g}] ({est.method_of(rate)})"


def density_figure(est: Estimates, truth: Truth | None, title: str) -> Figure:
    """f̂_τ with its pointwise 95 % band where the fit backs one, each supported mode with its
    value and interval in the legend (or the peaks, where there is no call), and the truth where
    known. The y-axis fits the estimate, its band and the truth (up to 3× the estimate's peak: a
    band beyond that is clipped, and the legend says so)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    if est.band_note:
        top = float(np.nanmax(est.f_tau))
        ax.plot([], [], " ", label=f"no 95 % band: {est.band_note}")
    else:
        ax.fill_between(est.grid, est.f_lo, est.f_hi, color="C0", alpha=0.25, label="95 % band")
        top = float(np.nanmax(est.f_hi))
    label = "estimate" if est.converged else f"estimate ({NOT_CONVERGED.lower()})"
    ax.plot(est.grid, est.f_tau, "C0", lw=2, label=label)
    if truth is not None:
        ax.plot(truth.grid, truth.f_tau, "k--", lw=1.5, label="truth")
        top = max(top, float(np.max(truth.f_tau)))
    if est.call == NO_CALL:
        for i, m in enumerate(find_modes(est.grid, est.f_tau)):
            colour = MODE_COLOURS[i % len(MODE_COLOURS)]
            ax.axvline(m, color=colour, lw=1, ls="--", alpha=0.8, label=f"peak at {m:.2f}")
    else:
        for i, (m, (lo, hi), why) in enumerate(
            zip(est.modes, est.mode_intervals, est.mode_support, strict=True)
        ):
            colour = MODE_COLOURS[i % len(MODE_COLOURS)]
            ax.axvspan(lo, hi, color=colour, alpha=0.08)
            ax.axvline(
                m,
                color=colour,
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
    for rate in est.not_identified:
        ax.plot([], [], " ", label=f"{RATE_LABELS[rate]} not identified on this fit")
    ax.set_xlabel("transduction time τ")
    ax.set_ylabel("density f_τ")
    if est.call == NO_CALL:
        verdict = f"no serial/parallel call: {est.why_no_call}"
    else:
        n = len(est.modes)
        verdict = f"{n} supported mode{'s' if n != 1 else ''}: {est.call}"
    verdict = textwrap.fill(verdict, 90)  # a reason for no call is a sentence: keep it whole
    ax.set_title(f"{_headline(est, title)}\n{verdict}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def mean_curve_figure(times: np.ndarray, values: np.ndarray, est: Estimates, title: str) -> Figure:
    """Every cell's trace drawn faintly, the cell mean, and the fitted reporter mean y(t), each
    rate with its own interval and method."""
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for row in values:
        ax.plot(times, row, color="0.5", lw=0.6, alpha=0.25)
    ax.plot(times, values.mean(0), "ko", ms=3, label="cell mean")
    label = "fitted y(t)" if est.converged else f"fitted y(t) ({NOT_CONVERGED.lower()})"
    ax.plot(est.times, est.mean, "C0", lw=2, label=label)
    ax.set_xlabel("time")
    ax.set_ylabel("reporter")
    rates = "\n".join(rate_text(est, r) for r in RATES)
    ax.set_title(f"{_headline(est, title)}\n{rates}", fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig
