"""What a finished study says: the best trial, a table of trials, and the standard plots."""

from __future__ import annotations

import io
import logging
import warnings
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import optuna
from optuna.trial import TrialState

log = logging.getLogger(__name__)
WINDOW_KEY = "task.window_steps"


def study_summary(study: optuna.Study, objectives: list[str]) -> dict[str, Any]:
    """Plain values (no Optuna types), for trackers and for `cellsweep best`."""
    trials = study.get_trials(deepcopy=False)
    states = {s.name: sum(t.state == s for t in trials) for s in TrialState}
    out: dict[str, Any] = {
        "study_name": study.study_name,
        "objectives": objectives,
        "directions": [d.name.lower() for d in study.directions],
        "n_trials": len(trials),
        "states": states,
    }
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if complete and len(study.directions) == 1:
        best = study.best_trial
        out.update(
            best_value=best.value,
            best_trial=best.number,
            best_params=best.params,
            best_run_id=best.user_attrs.get("mlflow_run_id"),
        )
    elif complete:
        out["pareto_trials"] = [t.number for t in study.best_trials]
    return out


def trials_table(study: optuna.Study) -> str:
    """CSV of every trial: number, state, values, duration, params."""
    trials = study.get_trials(deepcopy=False)
    keys = sorted({k for t in trials for k in t.params})
    buf = io.StringIO()
    buf.write(",".join(["number", "state", "values", "duration_s", *keys]) + "\n")
    for t in trials:
        vals = ";".join(f"{v:.8g}" for v in (t.values or []))
        dur = t.user_attrs.get("duration_s", "")
        dur = f"{dur:.3f}" if isinstance(dur, float) else ""
        row = [str(t.number), t.state.name, vals, dur, *(str(t.params.get(k, "")) for k in keys)]
        buf.write(",".join(row) + "\n")
    return buf.getvalue()


def study_figures(study: optuna.Study, objectives: list[str]) -> dict[str, Any]:
    """History, importances, parallel coordinates, and the objective against τ when swept."""
    figs: dict[str, Any] = {}
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if not complete or len(study.directions) != 1:
        return figs
    from optuna.visualization import matplotlib as ovm

    plots = {
        "optimization_history.png": ovm.plot_optimization_history,
        "parallel_coordinates.png": ovm.plot_parallel_coordinate,
    }
    if len(complete) >= 2 and len(complete[0].params) >= 1:
        plots["param_importances.png"] = ovm.plot_param_importances
    for name, fn in plots.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ax = fn(study, target_name=objectives[0])
            fig = (ax.flat[0] if hasattr(ax, "flat") else ax).figure
            fig.set_size_inches(9, 5.5)
            fig.tight_layout()  # long dotted parameter names must not be clipped
            figs[name] = fig
        except Exception as exc:  # a plot that cannot be drawn must not fail the study
            log.warning("skipping %s: %s", name, exc)
    if any(WINDOW_KEY in t.params for t in complete):
        fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
        pts = [(t.params[WINDOW_KEY], t.value) for t in complete if WINDOW_KEY in t.params]
        ax.scatter(*zip(*pts, strict=True))
        ax.set_xscale("log")
        ax.set_xlabel("window τ / Δt")
        ax.set_ylabel(objectives[0])
        ax.grid(alpha=0.3)
        ax.set_title(f"{study.study_name}: objective against the window")
        fig.tight_layout()
        figs["objective_vs_window.png"] = fig
    return figs
