"""Assemble the Density-PINN task from config: traces, estimator, and the after-fit report."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from cellsweep.errors import ConfigError
from cellsweep.structured import parse
from cellsweep.tasks.base import TaskRun
from cellsweep.tasks.density_pinn.auto_module import AutoFamilyPINN
from cellsweep.tasks.density_pinn.config import AuthorsModelCfg, DensityPinnCfg, LikelihoodModelCfg
from cellsweep.tasks.density_pinn.data import TraceData, Truth, load, split_cells
from cellsweep.tasks.density_pinn.estimator import DensityEstimator
from cellsweep.tasks.density_pinn.families import make_family
from cellsweep.tasks.density_pinn.likelihood_module import LikelihoodPINN, moment_start
from cellsweep.tasks.density_pinn.report import make_report
from cellsweep.tasks.density_pinn.selection import ORDER, cell_folds
from cellsweep.tasks.density_pinn.traces import Traces


def parse_model(model: Mapping[str, Any]) -> LikelihoodModelCfg | AuthorsModelCfg:
    """The model section as the schema of the estimator it names (``model.estimator``)."""
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


def likelihood_kind(mcfg: LikelihoodModelCfg, traces: Traces) -> str:
    """``model.likelihood`` made concrete: Poisson needs counts, ``auto`` picks by the data."""
    kind = mcfg.likelihood
    if kind == "auto":
        kind = "poisson" if traces.counts else "gaussian"
    if kind == "poisson" and not traces.counts:
        raise ConfigError(
            "model.likelihood=poisson needs counts (non-negative integers); these traces "
            "are intensities: use model.likelihood=gaussian"
        )
    return kind


def _likelihood_fit(
    mcfg: LikelihoodModelCfg,
    kind: str,
    traces: Traces,
    grid: np.ndarray,
    truth: Truth | None,
    family_name: str,
    fit_values: np.ndarray,
    held_values: np.ndarray,
) -> LikelihoodPINN:
    """One likelihood fit of ``family_name`` to ``fit_values``, started from the moments."""
    lam_b, lam_d, delay = moment_start(traces.times, fit_values)
    t_max = float(traces.times[-1])
    family = make_family(
        family_name, delay, t_max, mcfg.n_kernels, mcfg.width_min, mcfg.width_max, mcfg.smoothness
    )
    start = (lam_b, lam_d)
    return LikelihoodPINN(
        mcfg, family, traces.times, fit_values, held_values, kind, start, grid, truth
    )


def _estimator(
    mcfg: LikelihoodModelCfg | AuthorsModelCfg,
    traces: Traces,
    split: tuple[Traces, Traces],
    grid: np.ndarray,
    truth: Truth | None,
    seed: int,
) -> tuple[DensityEstimator, tuple[Traces, Traces], int, str]:
    """(module, its (fit, held-out) traces, steps per epoch, label) for the model config."""
    fit, held = split
    if isinstance(mcfg, AuthorsModelCfg):
        from cellsweep.tasks.density_pinn.authors_module import AuthorsPINN

        module = AuthorsPINN(mcfg, traces.times, fit.values, held.values, grid=grid, truth=truth)
        return module, split, mcfg.steps_per_epoch, f"authors' VAE PINN, family {mcfg.family}"
    kind = likelihood_kind(mcfg, traces)
    make = partial(_likelihood_fit, mcfg, kind, traces, grid, truth)
    steps = 1 if mcfg.optimizer == "lbfgs" else mcfg.iters_per_epoch
    label = f"likelihood ({kind}), family {mcfg.family}"
    if mcfg.family != "auto":
        return make(mcfg.family, fit.values, held.values), split, steps, label
    folds = cell_folds(traces.n_cells, mcfg.folds, seed)
    module = AutoFamilyPINN(make, ORDER, traces.values, folds, mcfg.selection_rule)
    return module, (traces, traces), steps, label  # every cell fits, and is held out once


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
    split = (traces.subset(fit_idx), traces.subset(val_idx))
    grid = np.linspace(0.0, float(traces.times[-1]), cfg.grid_points)
    module, (fit, held), steps, label = _estimator(mcfg, traces, split, grid, truth, seed)
    source = (
        Path(str(cfg.data.path)).name
        if cfg.data.source == "csv"
        else f"simulated data, seed {seed}"
    )
    info = {
        "derived.n_fit_cells": fit.n_cells,
        "derived.n_heldout_cells": held.n_cells,
        "derived.data_kind": "counts" if traces.counts else "intensities",
    }
    return TaskRun(
        module=module,
        datamodule=TraceData(fit, held, steps),
        report=partial(make_report, module, mcfg, traces, truth, (source, label), seed),
        info=info,
    )
