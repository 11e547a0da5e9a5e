"""What a finished study says: the best trial, a table of trials, and the standard plots."""

from __future__ import annotations

import csv
import importlib.util
import io
import logging
import warnings
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

from cellsweep import extras
from cellsweep.sweep.study import attrs
from cellsweep.sweep.study.record import state_counts

log = logging.getLogger(__name__)


def _pyplot() -> Any:
    """pyplot on the file backend, imported on first use: the summary needs no plotting stack."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


TOP = 10  # the trials a study's page lists


def study_summary(study: optuna.Study, objectives: list[str]) -> dict[str, Any]:
    """Plain values (no Optuna types), for trackers and for `cellsweep best`: the counts, the
    best trial, the top ``TOP`` complete trials, and the pruned and failed ones with why."""
    trials = study.get_trials(deepcopy=False)
    states = state_counts(trials)
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
            best_run_id=best.user_attrs.get(attrs.RUN_ID),
        )
        ranked = sorted(complete, key=lambda t: t.value)
        if study.direction == optuna.study.StudyDirection.MAXIMIZE:
            ranked.reverse()
        out["top"] = [_row(t) for t in ranked[:TOP]]
    elif complete:
        out["pareto_trials"] = [t.number for t in study.best_trials]
        out["top"] = [_row(t) for t in study.best_trials[:TOP]]
    for state, key in ((TrialState.PRUNED, "pruned"), (TrialState.FAIL, "failed")):
        out[key] = [
            {**_row(t), "reason": _reason(t), "epochs": t.user_attrs.get(attrs.EPOCHS)}
            for t in trials
            if t.state == state
        ]
    return out


def _row(t: FrozenTrial) -> dict[str, Any]:
    return {
        "number": t.number,
        "values": list(t.values or []),
        "params": dict(t.params),
        "run_id": t.user_attrs.get(attrs.RUN_ID),
    }


def describe_distribution(dist: BaseDistribution) -> str:
    """A searched key's distribution in the sweep grammar: ``choice(10, 20)``,
    ``tag(log, interval(0.0001, 0.01))``, ``int(interval(1, 4))``, ``range(16, 129, 16)``."""
    if isinstance(dist, CategoricalDistribution):
        return f"choice({', '.join(str(c) for c in dist.choices)})"
    if isinstance(dist, IntDistribution | FloatDistribution):
        step = getattr(dist, "step", None)
        if step not in (None, 1) and not dist.log:
            return f"range({dist.low}, {dist.high + step}, {step})"
        text = f"interval({dist.low}, {dist.high})"
        text = f"int({text})" if isinstance(dist, IntDistribution) else text
        return f"tag(log, {text})" if dist.log else text
    return repr(dist)


def _class_text(node: Any, default: str) -> str:
    """A sampler or pruner as configured: ``TPESampler(seed=0)``, ``median``, or the default."""
    if node is None:
        return default
    if isinstance(node, str):
        return node
    if isinstance(node, dict):
        target = str(node.get("_target_", "?")).rsplit(".", 1)[-1]
        args = ", ".join(f"{k}={v}" for k, v in node.items() if not str(k).startswith("_"))
        return f"{target}({args})"
    return type(node).__name__


def study_params(
    settings: Any,
    distributions: dict[str, BaseDistribution],
    objectives: list[str],
    directions: list[str],
    storage: str,
) -> dict[str, str]:
    """The study's page's params: every searched key with its distribution (``space.<key>``),
    the sampler, pruner, objectives, directions, n_trials and storage (a tracker redacts it)."""
    out = {f"space.{k}": describe_distribution(d) for k, d in sorted(distributions.items())}
    out.update(
        sampler=_class_text(settings.sampler, "TPESampler"),
        pruner=_class_text(settings.pruner, "none"),
        objectives=", ".join(objectives),
        directions=", ".join(directions),
        n_trials=str(settings.n_trials),
        n_workers=str(settings.n_workers),
        storage=storage,
    )
    return out


def _reason(t: FrozenTrial) -> str:
    """Why a trial ended as it did: a fail reason, or the pruner's note."""
    return str(t.user_attrs.get(attrs.FAIL_REASON) or t.user_attrs.get(attrs.NOTE) or "")


def trials_table(study: optuna.Study) -> str:
    """CSV of every trial: number, state, values, duration, epochs, MLflow run id, the reason
    it failed or was pruned, its params, then every metric it returned at its end."""
    trials = study.get_trials(deepcopy=False)
    keys = sorted({k for t in trials for k in t.params})
    metrics = sorted({m for t in trials for m in t.user_attrs.get(attrs.METRICS) or {}} - set(keys))
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    fixed = ["number", "state", "values", "duration_s", "epochs", "mlflow_run_id", "reason"]
    out.writerow([*fixed, *keys, *metrics])
    for t in trials:
        vals = ";".join(f"{v:.8g}" for v in (t.values or []))
        dur = t.user_attrs.get(attrs.DURATION, "")
        dur = f"{dur:.3f}" if isinstance(dur, float) else ""
        ended = t.user_attrs.get(attrs.METRICS) or {}
        out.writerow(
            [
                t.number,
                t.state.name,
                vals,
                dur,
                t.user_attrs.get(attrs.EPOCHS, ""),
                t.user_attrs.get(attrs.RUN_ID, ""),
                _reason(t),
                *(t.params.get(k, "") for k in keys),
                *(_cell(ended.get(m, "")) for m in metrics),
            ]
        )
    return buf.getvalue()


def _cell(value: Any) -> str:
    return f"{value:.8g}" if isinstance(value, float) else str(value)


LOG_SPAN = 100.0  # numeric choices spanning this factor or more are drawn on a log axis


def numeric_scale(dist: BaseDistribution) -> bool | None:
    """None for a distribution that is not numeric (or not searched), else whether its axis
    is logarithmic: a log interval, or numeric choices spanning two decades (a window of
    ``choice(10, ..., 1000)`` steps, say)."""
    if isinstance(dist, FloatDistribution | IntDistribution):
        return dist.log if dist.low < dist.high else None
    if not isinstance(dist, CategoricalDistribution):
        return None
    values = [c for c in dist.choices if isinstance(c, int | float) and not isinstance(c, bool)]
    if len(values) != len(dist.choices) or len(set(values)) < 2:
        return None
    low, high = min(values), max(values)
    return low > 0 and high / low >= LOG_SPAN


def numeric_params(trials: list[FrozenTrial]) -> dict[str, bool]:
    """Every searched numeric parameter the trials declare, with whether its scale is log:
    the study's own distributions say what was searched, whatever the workload calls it."""
    found: dict[str, bool] = {}
    for t in trials:
        for key, dist in t.distributions.items():
            scale = numeric_scale(dist)
            if scale is not None:
                found[key] = found.get(key, False) or scale
    return dict(sorted(found.items()))


def searched_axes(trials: list[FrozenTrial]) -> dict[str, str | list[Any]]:
    """The x axis of each searched parameter's plot: its choices (a categorical axis, one
    evenly spaced position per choice, in the order searched), ``"log"`` or ``"linear"``."""
    axes: dict[str, str | list[Any]] = {}
    for t in trials:
        for key, dist in t.distributions.items():
            if isinstance(dist, CategoricalDistribution):
                if len(dist.choices) > 1:
                    axes.setdefault(key, list(dist.choices))
            elif dist.low < dist.high:  # type: ignore[attr-defined]
                log_axis = bool(getattr(dist, "log", False)) or axes.get(key) == "log"
                axes[key] = "log" if log_axis else "linear"
    return dict(sorted(axes.items()))


def _jitter(number: int) -> float:
    """A fixed sideways offset per trial, so that trials of one choice do not hide each other."""
    return ((number * 0.618034) % 1.0 - 0.5) * 0.25


def objective_vs_param(
    study: optuna.Study,
    complete: list[FrozenTrial],
    key: str,
    axis: str | list[Any],
    objective: str,
) -> Any:
    """One scatter of the objective against one searched parameter, the best trial marked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    shown = [t for t in complete if key in t.params]
    if isinstance(axis, list):  # a choice: one position per choice, labelled by it
        index = {repr(c): i for i, c in enumerate(axis)}
        xs = [index.get(repr(t.params[key]), 0) + _jitter(t.number) for t in shown]
        ax.set_xticks(range(len(axis)), [str(c) for c in axis])
        ax.set_xlim(-0.5, len(axis) - 0.5)
    else:
        xs = [t.params[key] for t in shown]
        if axis == "log":
            ax.set_xscale("log")
    ys = [t.value for t in shown]
    ax.scatter(xs, ys, s=28, color="tab:blue", alpha=0.8, label="complete trials")
    best = study.best_trial
    if best in shown:
        i = shown.index(best)
        ax.scatter(
            [xs[i]], [ys[i]], s=180, marker="*", color="tab:red", zorder=3,
            label=f"best: trial {best.number}",
        )  # fmt: skip
    ax.legend(loc="best", fontsize=8)
    ax.set_xlabel(key)
    ax.set_ylabel(objective)
    ax.grid(alpha=0.3)
    ax.set_title(f"{objective} against {key}\nstudy {study.study_name}", fontsize=10)
    fig.tight_layout()
    return fig


def readable_log_axes(fig: Any) -> None:
    """Optuna's parallel coordinates label a log axis at every minor tick (2e-4, 3e-4, ...),
    and the labels run into each other: label it at 1, 2 and 5 of each decade instead."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator

    for ax in fig.axes:
        if ax.get_yscale() == "log":
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_locator(NullLocator())
            ax.yaxis.set_minor_formatter(NullFormatter())


def study_figures(study: optuna.Study, objectives: list[str]) -> dict[str, Any]:
    """History, importances, parallel coordinates, and the objective against each searched
    parameter: what a reader of a study looks at first."""
    figs: dict[str, Any] = {}
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if not complete or len(study.directions) != 1:
        return figs
    if not extras.has("plots"):  # the core install: the summary and table still go to MLflow
        log.warning(
            "no plots for %s: %s; `cellsweep report %s` draws them later from the study",
            study.study_name,
            extras.message("the study's plots", "plots"),
            study.study_name,
        )
        return figs
    _pyplot()
    from optuna.visualization import matplotlib as ovm

    plots = {
        "optimization_history.png": ovm.plot_optimization_history,
        "parallel_coordinates.png": ovm.plot_parallel_coordinate,
    }
    # fANOVA fits scikit-learn forests: drawn where it is installed (cellsweep[ui] or [science])
    if len(complete) >= 2 and len(complete[0].params) >= 1 and importlib.util.find_spec("sklearn"):
        plots["param_importances.png"] = ovm.plot_param_importances
    for name, fn in plots.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ax = fn(study, target_name=objectives[0])
            fig = (ax.flat[0] if hasattr(ax, "flat") else ax).figure
            fig.set_size_inches(9, 5.5)
            readable_log_axes(fig)
            fig.tight_layout()  # long dotted parameter names must not be clipped
            figs[name] = fig
        except Exception as exc:  # a plot that cannot be drawn must not fail the study
            log.warning("skipping %s: %s", name, exc)
    for key, axis in searched_axes(complete).items():
        name = f"objective_vs_{key.replace('/', '_')}.png"
        figs[name] = objective_vs_param(study, complete, key, axis, objectives[0])
    return figs
