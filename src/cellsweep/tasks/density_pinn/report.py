"""The after-fit report of a Density-PINN run, whichever estimator ran: f_τ with its band as a
figure and a CSV, the rates and modes as metrics, estimates.json, and the summary lines."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from cellsweep.tasks.base import Report
from cellsweep.tasks.density_pinn.config import AuthorsModelCfg, LikelihoodModelCfg
from cellsweep.tasks.density_pinn.data import Truth
from cellsweep.tasks.density_pinn.delays import find_modes
from cellsweep.tasks.density_pinn.estimates import NO_CALL, RATE_LABELS, RATES, Estimates
from cellsweep.tasks.density_pinn.estimator import DensityEstimator, Notes
from cellsweep.tasks.density_pinn.modes import HELD_OUT
from cellsweep.tasks.density_pinn.plots import density_figure, mean_curve_figure
from cellsweep.tasks.density_pinn.traces import Traces
from cellsweep.tasks.tables import columns_csv


def density_csv(est: Estimates, truth: Truth | None) -> str:
    """f̂_τ with its 95 % band on the estimate's grid (NaN where the fit backs no band:
    ``Estimates.band_note``), and the true f_τ there where known."""
    lo, hi = (est.f_lo, est.f_hi) if not est.band_note else (np.full_like(est.f_tau, np.nan),) * 2
    cols = {"t": est.grid, "f_tau": est.f_tau, "lo95": lo, "hi95": hi}
    if truth is not None:
        cols["f_tau_true"] = np.interp(est.grid, truth.grid, truth.f_tau)
    return columns_csv(cols)


def summary(estimator: str, notes: Notes, est: Estimates) -> dict[str, Any]:
    """estimates.json: what a reader of the run needs without opening the figures. A rate
    without an interval has ``null`` for it and its reason under ``not_identified``."""
    ci = {r: est.ci(r) for r in RATES}
    return {
        "estimator": estimator,
        "family": notes.family,
        **notes.info,
        "converged": est.converged,
        "convergence_warning": est.convergence_warning,
        "lambda_b": est.lambda_b,
        "lambda_b_ci95": list(ci["lambda_b"]) if ci["lambda_b"] else None,
        "lambda_d": est.lambda_d,
        "lambda_d_ci95": list(ci["lambda_d"]) if ci["lambda_d"] else None,
        "interval_method": est.interval_method,
        "interval_methods": {r: est.method_of(r) for r in RATES},
        "not_identified": est.not_identified,
        "band": est.band_note or "95 % pointwise",
        "modes": est.modes,
        "mode_intervals95": [list(iv) for iv in est.mode_intervals],
        "mode_support": est.mode_support,
        "unsupported_modes": est.unsupported_modes,
        "peaks": est.peaks,
        "call": est.call,
        "no_call_reason": est.why_no_call,
        **est.extra,
    }


def final_metrics(est: Estimates, interval_s: float) -> dict[str, float]:
    """The estimates as metrics, so runs and trials compare them in MLflow (up to 4 modes)."""
    metrics = {
        "final/n_modes": float(len(est.modes)),
        "final/converged": float(est.converged),
        "time/interval_s": interval_s,
    }
    for rate in RATES:  # a rate without an interval logs no bounds, and says so
        metrics[f"final/{rate}"] = getattr(est, rate)
        metrics[f"final/{rate}_identified"] = float(rate not in est.not_identified)
        if (ci := est.ci(rate)) is not None:
            metrics[f"final/{rate}_lo95"], metrics[f"final/{rate}_hi95"] = ci
    for i, (m, (lo, hi)) in enumerate(zip(est.modes[:4], est.mode_intervals, strict=False), 1):
        metrics[f"final/mode{i}"] = m
        metrics[f"final/mode{i}_lo95"] = lo
        metrics[f"final/mode{i}_hi95"] = hi
    return metrics


def rate_line(est: Estimates, rate: str) -> str:
    """One rate with its own interval and the method that found it, or why it has none."""
    value = f"{RATE_LABELS[rate]} = {getattr(est, rate):.4g}"
    ci = est.ci(rate)
    if ci is None:
        return f"{value}  not identified on this fit: {est.not_identified[rate]}"
    return f"{value}  95% [{ci[0]:.4g}, {ci[1]:.4g}]  ({est.method_of(rate)})"


def summary_lines(est: Estimates, truth: Truth | None) -> list[str]:
    """The rates, the supported modes and the serial/parallel call, and the truth if known."""
    modes = ", ".join(
        f"{m:.3g} [{lo:.3g}, {hi:.3g}]"
        for m, (lo, hi) in zip(est.modes, est.mode_intervals, strict=True)
    )
    unsupported = ""
    if est.unsupported_modes:
        shown = ", ".join(f"{m:.3g}" for m in est.unsupported_modes)
        unsupported = f" (not counted, dip not significant: {shown})"
    if HELD_OUT in est.mode_support:
        unsupported += (
            f" ({est.extra['mode_support_reason']}; a mode without a significant dip of its "
            "own rests on that)"
        )
    lines = [rate_line(est, r) for r in RATES]
    if est.call == NO_CALL:
        peaks = ", ".join(f"{m:.3g}" for m in find_modes(est.grid, est.f_tau))
        lines.append(f"f_τ peaks at {peaks}; no serial/parallel call: {est.why_no_call}")
    else:
        lines.append(
            f"f_τ modes the data support: {modes}: {est.call} "
            f"pathway{'s' if est.call == 'parallel' else ''}{unsupported}"
        )
    if truth is not None:
        lines.append(
            f"truth: λ_b = {truth.lambda_b:g}, λ_d = {truth.lambda_d:g}, modes at "
            + ", ".join(f"{m:.3g}" for m in truth.modes)
        )
    return lines


def make_report(
    module: DensityEstimator,
    mcfg: LikelihoodModelCfg | AuthorsModelCfg,
    traces: Traces,
    truth: Truth | None,
    heading: tuple[str, str],
    seed: int,
) -> Report:
    """The report of a fitted ``module``; ``heading`` is (data source, estimator label)."""
    t0 = time.perf_counter()
    est = module.estimates(seed=seed)
    interval_s = time.perf_counter() - t0
    notes = module.notes(mcfg.family)
    notes.tags.setdefault("converged", str(est.converged).lower())
    if not est.converged and not any(ln.startswith("WARNING") for ln in notes.lines):
        notes.lines.append(f"WARNING: the fit has not converged: {est.convergence_warning}")
    source, label = heading
    title = (
        f"{source}: {traces.n_cells} cells, {traces.times.size} times\n"
        f"{label.replace(f'family {mcfg.family}', f'family {notes.family}')}"
    )
    return Report(
        figures={
            "density.png": density_figure(est, truth, title),
            "mean_curve.png": mean_curve_figure(traces.times, traces.values, est, title),
        },
        files={
            "density.csv": density_csv(est, truth),
            "estimates.json": json.dumps(summary(mcfg.estimator, notes, est), indent=1),
        },
        metrics=final_metrics(est, interval_s),
        lines=[*notes.lines, *summary_lines(est, truth)],
        tags=notes.tags,
        weights=module.final_state(),
    )
