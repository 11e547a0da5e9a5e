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
from cellsweep.tasks.density_pinn.estimates import Estimates
from cellsweep.tasks.density_pinn.estimator import DensityEstimator, Notes
from cellsweep.tasks.density_pinn.modes import HELD_OUT
from cellsweep.tasks.density_pinn.plots import density_figure, mean_curve_figure
from cellsweep.tasks.density_pinn.traces import Traces
from cellsweep.tasks.tables import columns_csv


def density_csv(est: Estimates, truth: Truth | None) -> str:
    """f̂_τ with its 95 % band on the estimate's grid, and the true f_τ there where known."""
    cols = {"t": est.grid, "f_tau": est.f_tau, "lo95": est.f_lo, "hi95": est.f_hi}
    if truth is not None:
        cols["f_tau_true"] = np.interp(est.grid, truth.grid, truth.f_tau)
    return columns_csv(cols)


def summary(estimator: str, notes: Notes, est: Estimates) -> dict[str, Any]:
    """estimates.json: what a reader of the run needs without opening the figures."""
    return {
        "estimator": estimator,
        "family": notes.family,
        **notes.info,
        "lambda_b": est.lambda_b,
        "lambda_b_ci95": list(est.lambda_b_ci),
        "lambda_d": est.lambda_d,
        "lambda_d_ci95": list(est.lambda_d_ci),
        "interval_method": est.interval_method,
        "modes": est.modes,
        "mode_intervals95": [list(iv) for iv in est.mode_intervals],
        "mode_support": est.mode_support,
        "unsupported_modes": est.unsupported_modes,
        "call": est.call,
        **est.extra,
    }


def final_metrics(est: Estimates, interval_s: float) -> dict[str, float]:
    """The estimates as metrics, so runs and trials compare them in MLflow (up to 4 modes)."""
    metrics = {
        "final/lambda_b": est.lambda_b,
        "final/lambda_b_lo95": est.lambda_b_ci[0],
        "final/lambda_b_hi95": est.lambda_b_ci[1],
        "final/lambda_d": est.lambda_d,
        "final/lambda_d_lo95": est.lambda_d_ci[0],
        "final/lambda_d_hi95": est.lambda_d_ci[1],
        "final/n_modes": float(len(est.modes)),
        "time/interval_s": interval_s,
    }
    for i, (m, (lo, hi)) in enumerate(zip(est.modes[:4], est.mode_intervals, strict=False), 1):
        metrics[f"final/mode{i}"] = m
        metrics[f"final/mode{i}_lo95"] = lo
        metrics[f"final/mode{i}_hi95"] = hi
    return metrics


def summary_lines(est: Estimates, truth: Truth | None) -> list[str]:
    """The rates, the supported modes and the serial/parallel call, and the truth if known."""
    b, d = est.lambda_b_ci, est.lambda_d_ci
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
    lines = [
        f"λ_b = {est.lambda_b:.4g}  95% [{b[0]:.4g}, {b[1]:.4g}]",
        f"λ_d = {est.lambda_d:.4g}  95% [{d[0]:.4g}, {d[1]:.4g}]  ({est.interval_method})",
        f"f_τ modes the data support: {modes}: {est.call} "
        f"pathway{'s' if est.call == 'parallel' else ''}{unsupported}",
    ]
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
    )
