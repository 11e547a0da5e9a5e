"""Assemble the Density-PINN task from config: traces, estimator, and the after-fit report."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from cellsweep.errors import ConfigError
from cellsweep.structured import parse
from cellsweep.tasks.base import Report, TaskRun
from cellsweep.tasks.density_pinn.auto_module import AutoFamilyPINN
from cellsweep.tasks.density_pinn.config import AuthorsModelCfg, DensityPinnCfg, LikelihoodModelCfg
from cellsweep.tasks.density_pinn.data import TraceData, load, split_cells
from cellsweep.tasks.density_pinn.estimates import Estimates
from cellsweep.tasks.density_pinn.families import make_family
from cellsweep.tasks.density_pinn.likelihood_module import LikelihoodPINN, moment_start
from cellsweep.tasks.density_pinn.plots import density_figure, mean_curve_figure
from cellsweep.tasks.density_pinn.selection import ORDER, cell_folds

ESTIMATORS = ("likelihood", "authors")
log = logging.getLogger(__name__)


def parse_model(model: Mapping[str, Any]) -> LikelihoodModelCfg | AuthorsModelCfg:
    kind = dict(model).get("estimator")
    if kind == "likelihood":
        return parse(LikelihoodModelCfg, dict(model), "model")
    if kind == "authors":
        return parse(AuthorsModelCfg, dict(model), "model")
    raise ConfigError(
        "task=density_pinn needs model=density_pinn/likelihood or model=density_pinn/authors"
        + (f" (model.estimator is {kind!r})" if kind else "")
    )


def check(task: Mapping[str, Any], model: Mapping[str, Any]) -> None:
    """The config checks of ``build`` without the data: types, ranges, unknown keys."""
    parse(DensityPinnCfg, task, "task")
    parse_model(model)


def build(
    task: Mapping[str, Any],
    model: Mapping[str, Any],
    seed: int,
    cache_dir: str | Path | None = None,
    output_dir: str | Path | None = None,
) -> TaskRun:
    """The Density-PINN TaskRun: simulated or CSV traces, fitted by the configured estimator."""
    cfg = parse(DensityPinnCfg, task, "task")
    mcfg = parse_model(model)
    traces, truth = load(
        cfg, seed, Path(output_dir) if output_dir else None, Path(cache_dir) if cache_dir else None
    )
    fit_idx, val_idx = split_cells(traces.n_cells, cfg.data.val_fraction, seed)
    fit, held = traces.subset(fit_idx), traces.subset(val_idx)
    t_max = float(traces.times[-1])
    grid = np.linspace(0.0, t_max, cfg.grid_points)
    if isinstance(mcfg, LikelihoodModelCfg):
        kind = mcfg.likelihood
        if kind == "auto":
            kind = "poisson" if traces.counts else "gaussian"
        if kind == "poisson" and not traces.counts:
            raise ConfigError(
                "model.likelihood=poisson needs counts (non-negative integers); these traces "
                "are intensities: use model.likelihood=gaussian"
            )

        def make(family_name: str, fit_values: np.ndarray, held_values: np.ndarray):
            lam_b, lam_d, delay = moment_start(traces.times, fit_values)
            family = make_family(
                family_name,
                delay,
                t_max,
                mcfg.n_kernels,
                mcfg.width_min,
                mcfg.width_max,
                mcfg.smoothness,
            )
            return LikelihoodPINN(
                family,
                traces.times,
                fit_values,
                held_values,
                kind,
                (lam_b, lam_d),
                collocation=mcfg.collocation,
                optimizer=mcfg.optimizer,
                lr=mcfg.lr,
                iters_per_epoch=mcfg.iters_per_epoch,
                grid=grid,
                truth=truth,
            )

        steps = 1 if mcfg.optimizer == "lbfgs" else mcfg.iters_per_epoch
        if mcfg.family == "auto":
            folds = cell_folds(traces.n_cells, mcfg.folds, seed)
            module = AutoFamilyPINN(make, ORDER, traces.values, folds, mcfg.selection_rule)
            fit, held = traces, traces  # every cell fits the estimates and is held out once

            def estimates() -> Estimates:
                return module.chosen.estimates(mcfg.interval, seed)
        else:
            module = make(mcfg.family, fit.values, held.values)

            def estimates() -> Estimates:
                return module.estimates(mcfg.interval, seed)

        label = f"likelihood ({kind}), family {mcfg.family}"
    else:
        from cellsweep.tasks.density_pinn.authors_module import AuthorsPINN

        module = AuthorsPINN(mcfg, traces.times, fit.values, held.values, grid=grid, truth=truth)
        steps = mcfg.steps_per_epoch

        def estimates() -> Estimates:
            return module.estimates(seed)

        label = f"authors' VAE PINN, family {mcfg.family}"
    data = TraceData(fit, held, steps)

    def report() -> Report:
        t0 = time.perf_counter()
        est = estimates()
        interval_s = time.perf_counter() - t0
        family = mcfg.family
        sel_info: dict[str, Any] = {}
        tags: dict[str, str] = {}
        sel_lines: list[str] = []
        if isinstance(module, AutoFamilyPINN):
            sel = module.selection
            family = sel.family
            sel_info = {
                "family_requested": "auto",
                "selection": {
                    "rule": sel.rule,
                    "folds": len(module.folds),
                    "best": sel.best,
                    "nll_heldout": sel.nll,
                    "nll_heldout_se": sel.se,
                    "excess_nats": sel.excess,
                    "excess_se_nats": sel.excess_se,
                    "reason": sel.reason,
                },
            }
            tags["cellsweep.density_family"] = family
            sel_lines = [
                f"family (auto, {len(module.folds)}-fold CV over cells, rule {sel.rule}): "
                + sel.reason
            ]
        elif isinstance(mcfg, LikelihoodModelCfg):
            tags["cellsweep.density_family"] = family
        else:
            not_converged = module.convergence()
            tags["cellsweep.converged"] = "false" if not_converged else "true"
            if not_converged:
                why = "; ".join(not_converged)
                tags["cellsweep.convergence_warning"] = why[:500]
                sel_info["converged"] = False
                sel_info["convergence_warning"] = not_converged
                msg = f"the authors' model has not converged: {why}"
                log.warning(msg)
                sel_lines.append(
                    f"WARNING: {msg}. Raise trainer.max_epochs or model.steps_per_epoch."
                )
        source = (
            Path(str(cfg.data.path)).name
            if cfg.data.source == "csv"
            else f"simulated data, seed {seed}"
        )
        title = (
            f"{source}: {traces.n_cells} cells, {traces.times.size} times\n"
            f"{label.replace(f'family {mcfg.family}', f'family {family}')}"
        )
        buf = io.StringIO()
        cols, names = [est.grid, est.f_tau, est.f_lo, est.f_hi], ["t", "f_tau", "lo95", "hi95"]
        if truth is not None:
            cols.append(np.interp(est.grid, truth.grid, truth.f_tau))
            names.append("f_tau_true")
        np.savetxt(
            buf,
            np.column_stack(cols),
            delimiter=",",
            header=",".join(names),
            comments="",
            fmt="%.8g",
        )
        summary = {
            "estimator": mcfg.estimator,
            "family": family,
            **sel_info,
            "lambda_b": est.lambda_b,
            "lambda_b_ci95": list(est.lambda_b_ci),
            "lambda_d": est.lambda_d,
            "lambda_d_ci95": list(est.lambda_d_ci),
            "interval_method": est.interval_method,
            "modes": est.modes,
            "mode_intervals95": [list(iv) for iv in est.mode_intervals],
            "unsupported_modes": est.unsupported_modes,
            "call": est.call,
            **est.extra,
        }
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
        lines = [
            *sel_lines,
            f"λ_b = {est.lambda_b:.4g}  95% [{est.lambda_b_ci[0]:.4g}, {est.lambda_b_ci[1]:.4g}]",
            f"λ_d = {est.lambda_d:.4g}  95% [{est.lambda_d_ci[0]:.4g}, {est.lambda_d_ci[1]:.4g}]"
            f"  ({est.interval_method})",
            "f_τ modes the data support: "
            + ", ".join(
                f"{m:.3g} [{lo:.3g}, {hi:.3g}]"
                for m, (lo, hi) in zip(est.modes, est.mode_intervals, strict=True)
            )
            + f": {est.call} pathway{'s' if est.call == 'parallel' else ''}"
            + (
                " (not counted, dip not significant: "
                + ", ".join(f"{m:.3g}" for m in est.unsupported_modes)
                + ")"
                if est.unsupported_modes
                else ""
            ),
        ]
        if truth is not None:
            lines.append(
                f"truth: λ_b = {truth.lambda_b:g}, λ_d = {truth.lambda_d:g}, modes at "
                + ", ".join(f"{m:.3g}" for m in truth.modes)
            )
        return Report(
            figures={
                "density.png": density_figure(est, truth, title),
                "mean_curve.png": mean_curve_figure(traces.times, traces.values, est, title),
            },
            files={"density.csv": buf.getvalue(), "estimates.json": json.dumps(summary, indent=1)},
            metrics=metrics,
            lines=lines,
            tags=tags,
        )

    info = {
        "derived.n_fit_cells": fit.n_cells,
        "derived.n_heldout_cells": held.n_cells,
        "derived.data_kind": "counts" if traces.counts else "intensities",
    }
    return TaskRun(module=module, datamodule=data, report=report, info=info)
