"""Assemble the chemotaxis task from config: data, estimator, and the after-fit report."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cellsweep.errors import ConfigError
from cellsweep.nn import MLP, MLPConfig
from cellsweep.structured import parse
from cellsweep.tasks.base import Report, TaskRun
from cellsweep.tasks.chemotaxis.config import ChemotaxisCfg
from cellsweep.tasks.chemotaxis.data import ChemotaxisData
from cellsweep.tasks.chemotaxis.limits import parabolic_diffusion, parabolic_sensitivity
from cellsweep.tasks.chemotaxis.module import ChemotaxisEstimator
from cellsweep.tasks.chemotaxis.operators import face_positions
from cellsweep.tasks.chemotaxis.plots import sensitivity_figure

EVAL_POINTS = 201


def check(task: Mapping[str, Any], model: Mapping[str, Any]) -> None:
    """The config checks of ``build`` without the data: types, ranges, unknown keys."""
    parse(ChemotaxisCfg, task, "task")
    parse(MLPConfig, dict(model), "model")


def build(
    task: Mapping[str, Any],
    model: Mapping[str, Any],
    seed: int,
    cache_dir: str | Path | None = None,
    output_dir: str | Path | None = None,
) -> TaskRun:
    """The chemotaxis TaskRun for a task config and an MLP config (depth, width, activation)."""
    cfg = parse(ChemotaxisCfg, task, "task")
    sim = cfg.sim
    for key in ("train_csv", "val_csv"):
        path = getattr(cfg.data, key)
        if cfg.data.source == "csv" and path and not Path(path).is_file():
            raise ConfigError(f"task.data.{key}: file not found: {path}")
    net = MLP.from_config(parse(MLPConfig, dict(model), "model"))
    faces = face_positions(sim.length, cfg.bins)
    c_lo, c_hi = sim.signal.c_range(sim.length)
    eval_c = torch.linspace(c_lo, c_hi, EVAL_POINTS, dtype=torch.float64)
    faces_c = sim.signal.c(faces)
    seen = (float(faces_c.min()), float(faces_c.max()))  # the c the losses see S at
    eval_interior = (eval_c >= seen[0] - 1e-12) & (eval_c <= seen[1] + 1e-12)
    S = parabolic_sensitivity(sim) if cfg.data.source == "simulate" else None
    D_true = parabolic_diffusion(sim)
    D = cfg.estimator.D if cfg.estimator.D is not None else D_true
    if cfg.data.source == "csv" and cfg.estimator.D is None and not cfg.estimator.learn_D:
        raise ConfigError("with task.data.source=csv set task.estimator.D or learn_D=true")
    module = ChemotaxisEstimator(
        net,
        faces_c=faces_c,
        faces_dc=sim.signal.dc(faces),
        c_range=(c_lo, c_hi),
        h=sim.length / cfg.bins,
        tau=cfg.window_steps * sim.dt,
        form=cfg.loss.form,
        D=D,
        learn_D=cfg.estimator.learn_D,
        lr=cfg.optim.lr,
        weight_decay=cfg.optim.weight_decay,
        scheduler=cfg.optim.scheduler,
        min_lr_ratio=cfg.optim.min_lr_ratio,
        horizon=cfg.val.horizon_steps * sim.dt,
        eval_c=eval_c,
        S_true=None if S is None else S(eval_c),
        eval_interior=eval_interior,
    )
    data = ChemotaxisData(
        cfg, seed, Path(cache_dir) if cache_dir else None, Path(output_dir) if output_dir else None
    )

    def report() -> Report:
        with torch.no_grad():
            s_hat = module(eval_c.to(module.device)).cpu().numpy()
        s_true = None if S is None else S(eval_c).numpy()
        c = eval_c.numpy()
        title = (
            f"Model {sim.model}: τ = {cfg.window_steps}·Δt, loss {cfg.loss.form} "
            f"(L{cfg.loss.order}), N = {sim.n_particles}"
        )
        buf = io.StringIO()
        cols, names = [c, s_hat], ["c", "S_learned"]
        if s_true is not None:
            cols.append(s_true)
            names.append("S_true")
        np.savetxt(
            buf,
            np.column_stack(cols),
            delimiter=",",
            header=",".join(names),
            comments="",
            fmt="%.8g",
        )
        err, inner = module.sensitivity_error(), module.sensitivity_error(interior=True)
        lines = [
            f"learned S over c in [{c_lo:.3g}, {c_hi:.3g}]"
            + (
                f": relative L2 error {float(err):.2%} against the analytic S "
                f"({float(inner):.2%} over [{seen[0]:.3g}, {seen[1]:.3g}], the interior "
                "faces the loss sees)"
                if err is not None and inner is not None
                else ""
            )
        ]
        return Report(
            figures={"sensitivity.png": sensitivity_figure(c, s_hat, s_true, title, seen)},
            files={"sensitivity.csv": buf.getvalue()},
            metrics={"final/D": float(module.D)},
            lines=lines,
        )

    info = {
        "derived.tau": cfg.window_steps * sim.dt,
        "derived.D_true": D_true,
        "derived.loss_form": cfg.loss.form,
    }
    return TaskRun(module=module, datamodule=data, report=report, info=info)
