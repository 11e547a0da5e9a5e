"""Assemble the chemotaxis task from config: data, estimator, and the after-fit report."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import torch

from cellsweep.errors import ConfigError
from cellsweep.nn import MLP, MLPConfig
from cellsweep.structured import parse
from cellsweep.tasks.base import Report, TaskRun
from cellsweep.tasks.chemotaxis.config import ChemotaxisCfg
from cellsweep.tasks.chemotaxis.data import ChemotaxisData
from cellsweep.tasks.chemotaxis.limits import parabolic_diffusion
from cellsweep.tasks.chemotaxis.module import ChemotaxisEstimator, EvalGrid
from cellsweep.tasks.chemotaxis.plots import sensitivity_figure
from cellsweep.tasks.tables import columns_csv


def check(task: Mapping[str, Any], model: Mapping[str, Any]) -> None:
    """The config checks of ``build`` without the data: types, ranges, unknown keys."""
    parse(ChemotaxisCfg, task, "task")
    parse(MLPConfig, dict(model), "model")


def _check_inputs(cfg: ChemotaxisCfg) -> None:
    """What needs the file system, so ``check`` leaves it to ``build``: the CSV files exist."""
    for key in ("train_csv", "val_csv"):
        path = getattr(cfg.data, key)
        if cfg.data.source == "csv" and path and not Path(path).is_file():
            raise ConfigError(f"task.data.{key}: file not found: {path}")


def _report(cfg: ChemotaxisCfg, module: ChemotaxisEstimator, grid: EvalGrid) -> Report:
    """The learned S against c (figure and CSV), its error where S is known, and the final D."""
    sim, (c_lo, c_hi), seen = cfg.sim, grid.c_range, grid.seen
    with torch.no_grad():
        s_hat = module(grid.c.to(module.device)).cpu().numpy()
    s_true = None if grid.S is None else grid.S(grid.c).numpy()
    c = grid.c.numpy()
    title = (
        f"Model {sim.model}: τ = {cfg.window_steps}·Δt, loss {cfg.loss.form} "
        f"(L{cfg.loss.order}), N = {sim.n_particles}"
    )
    cols = {"c": c, "S_learned": s_hat} | ({} if s_true is None else {"S_true": s_true})
    err, inner = module.sensitivity_error(), module.sensitivity_error(interior=True)
    line = f"learned S over c in [{c_lo:.3g}, {c_hi:.3g}]"
    if err is not None and inner is not None:
        line += (
            f": relative L2 error {float(err):.2%} against the analytic S "
            f"({float(inner):.2%} over [{seen[0]:.3g}, {seen[1]:.3g}], the interior "
            "faces the loss sees)"
        )
    return Report(
        figures={"sensitivity.png": sensitivity_figure(c, s_hat, s_true, title, seen)},
        files={"sensitivity.csv": columns_csv(cols)},
        metrics={"final/D": float(module.D)},
        lines=[line],
    )


def build(
    task: Mapping[str, Any],
    model: Mapping[str, Any],
    seed: int,
    cache_dir: str | Path | None = None,
    output_dir: str | Path | None = None,
) -> TaskRun:
    """The chemotaxis TaskRun for a task config and an MLP config (depth, width, activation)."""
    cfg = parse(ChemotaxisCfg, task, "task")
    _check_inputs(cfg)
    net = MLP.from_config(parse(MLPConfig, dict(model), "model"))
    grid = EvalGrid.of(cfg)
    module = ChemotaxisEstimator(net, cfg, grid)
    data = ChemotaxisData(
        cfg, seed, Path(cache_dir) if cache_dir else None, Path(output_dir) if output_dir else None
    )
    info = {
        "derived.tau": cfg.window_steps * cfg.sim.dt,
        "derived.D_true": parabolic_diffusion(cfg.sim),
        "derived.loss_form": cfg.loss.form,
    }
    report = partial(_report, cfg, module, grid)
    return TaskRun(module=module, datamodule=data, report=report, info=info)
