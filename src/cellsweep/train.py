"""`cellsweep-train`: compose a config with Hydra, build the task, fit it with Lightning, log it.

This is the one module where workloads meet tracking (and, later, sweeps): tasks know nothing of
MLflow, tracking knows nothing of tasks (DESIGN.md §3). The Hydra function returns the objective,
so any Hydra sweeper can optimize it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import optuna
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from cellsweep.cli_errors import USER_ERRORS, run_cli, user_message
from cellsweep.errors import ConfigError, UserInputExit
from cellsweep.paths import config_dir, project_root, register_resolvers
from cellsweep.sweep.context import current_trial
from cellsweep.sweep.pruning import OptunaPruning
from cellsweep.tasks.base import TaskRun, Workload, resolve_workload
from cellsweep.tracking import (
    TrackedRun,
    TrackingSettings,
    check_reachable,
    flatten,
    git_state,
    redact_text,
    redact_uri,
    start_run,
)
from cellsweep.tracking.callback import MLflowEpochMetrics, scalar_metrics

log = logging.getLogger("cellsweep.train")
register_resolvers()
# Each trial's MLflow run is opened here (with per-epoch metrics and artifacts), so the sweeper
# opens none of its own (cellsweep.sweep.hydra_sweep.app_logs_trial_runs).
LOGS_TRIAL_RUNS = True


def _container(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def _builder(cfg: DictConfig) -> Workload:
    """The workload that ``task._target_`` names, seen only through the contract
    (tasks/base.py): its own module, or the parent of its ``build``."""
    return resolve_workload(cfg.task.get("_target_"))


def check_config(cfg: DictConfig) -> None:
    """Check a composed config without building data: the workload's ``check(task, model)``
    (the sweeper calls this before it writes anything)."""
    _builder(cfg).check(task=_container(cfg.task), model=_container(cfg.model))


def build_task(cfg: DictConfig, output_dir: Path | None = None) -> TaskRun:
    """Instantiate the workload named by ``task._target_`` with its task and model sections."""
    workload = _builder(cfg)
    cache = Path(cfg.paths.cache_dir) / str(cfg.task.get("name", "task"))
    return workload.build(
        task=_container(cfg.task),
        model=_container(cfg.model),
        seed=int(cfg.seed),
        cache_dir=cache,
        output_dir=output_dir,
    )


def _hydra_overrides() -> list[str]:
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


# overrides that say where a run goes or how it shows progress, not what it is
_NAMELESS = (
    "experiment=",
    "paths.",
    "hydra.",
    "tracking",
    "storage",
    "run_name=",
    "trainer.enable_",
)


def single_run_name(
    cfg: DictConfig, overrides: list[str], experiment: str | None = None, limit: int = 250
) -> str:
    """A single run's name: ``run_name`` as given on the command line, else the experiment's
    name (``chemotaxis/model1`` -> ``chemotaxis-model1``; the root config's ``run_name: null``
    comes after an experiment's in the defaults list, so its own is not seen) or the task's,
    followed by the overrides that make this run what it is, e.g.
    ``chemotaxis-model1 task.window_steps=200 model.depth=4`` (at most 250 characters, MLflow's
    limit). Trials are named by the sweep."""
    if any(o.startswith("run_name=") for o in overrides) and cfg.get("run_name"):
        return str(cfg.run_name)
    base = experiment.replace("/", "-") if experiment else None
    base = base or str(cfg.get("run_name") or cfg.task.get("name"))
    last = {o.split("=", 1)[0]: o for o in overrides}  # a key given twice: its last value
    shown = [
        redact_text(o)
        for o in overrides
        if last[o.split("=", 1)[0]] is o and not o.lstrip("+~").startswith(_NAMELESS)
    ]
    name = " ".join([base, *shown])
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _experiment_choice() -> str | None:
    if not HydraConfig.initialized():
        return None
    choice = HydraConfig.get().runtime.choices.get("experiment")
    return str(choice) if choice else None


def _run_tags(cfg: DictConfig) -> dict[str, Any]:
    commit, dirty = git_state(project_root())
    return {
        "mlflow.source.git.commit": commit,
        "cellsweep.git_dirty": dirty,
        "mlflow.source.name": "cellsweep-train",
        "cellsweep.command": redact_text(shlex.join(["cellsweep-train", *sys.argv[1:]])),
        "cellsweep.seed": cfg.seed,
        "cellsweep.task": cfg.task.get("name"),
        "cellsweep.objective": cfg.get("objective"),
    }


def _log_outputs(run: TrackedRun, cfg: DictConfig, task: TaskRun, out_dir: Path) -> list[str]:
    """Config, overrides, the task's figures and files, and the weights, as artifacts."""
    run.log_text(redact_text(OmegaConf.to_yaml(cfg, resolve=True)), "config.yaml")
    run.log_text(redact_text(OmegaConf.to_yaml(_hydra_overrides())), "overrides.yaml")
    report = task.report()
    for name, fig in report.figures.items():
        run.log_figure(fig, name)
        fig.savefig(out_dir / name)
    for name, text in report.files.items():
        run.log_text(text, name)
        (out_dir / name).write_text(text)
    weights = out_dir / "model.pt"
    torch.save(task.module.state_dict(), weights)
    run.log_file(weights)
    if report.metrics:
        run.log_metrics(report.metrics, step=0)
    if report.tags:
        run.set_tags(report.tags)
    return report.lines


def _check_seed(cfg: DictConfig) -> int:
    seed = cfg.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return seed


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit one run and log it; returns the final epoch's metrics."""
    seed = _check_seed(cfg)
    settings = TrackingSettings.from_config(cfg.tracking)
    if current_trial() is None:  # a sweep checked once; a trial rides out an outage instead
        check_reachable(settings)
    out_dir = Path(cfg.paths.output_dir) if HydraConfig.initialized() else Path(tempfile.mkdtemp())
    out_dir.mkdir(parents=True, exist_ok=True)
    L.seed_everything(seed, workers=True, verbose=False)  # before the network is initialized
    task = build_task(cfg, out_dir)
    run_name = single_run_name(cfg, _hydra_overrides(), _experiment_choice())
    # Everything that can fail on bad input happens before the MLflow run exists: the data are
    # loaded (or simulated) and the trainer is built first, so bad input logs nothing.
    task.datamodule.prepare_data()
    task.datamodule.setup("fit")
    epoch_logger = MLflowEpochMetrics()
    ctx = current_trial()
    callbacks: list[L.Callback] = [epoch_logger] if settings.enabled else []
    if ctx is not None:
        callbacks.append(OptunaPruning(ctx.trial, ctx.objectives[0], enabled=ctx.pruning))
    trainer: L.Trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks)
    tags = _run_tags(cfg)
    if ctx is not None:
        tags.update(
            {
                "cellsweep.study": ctx.study_name,
                "cellsweep.trial": ctx.trial.number,
                "mlflow.parentRunId": ctx.parent_run_id,
            }
        )
        run_name = f"{ctx.study_name}#{ctx.trial.number}"

    pruned: optuna.TrialPruned | None = None
    with contextlib.ExitStack() as stack:
        run: TrackedRun | None = None
        if settings.enabled:
            run = stack.enter_context(start_run(settings, run_name, tags, spill_dir=out_dir))
            run.log_params(
                {**flatten(_container(cfg)), **{k: str(v) for k, v in task.info.items()}}
            )
            epoch_logger.run = run
            if ctx is not None:
                ctx.trial.set_user_attr("mlflow_run_id", run.run_id)
        fit_start = time.perf_counter()
        try:
            trainer.fit(task.module, datamodule=task.datamodule)
        except optuna.TrialPruned as exc:
            pruned = exc  # the run ends FINISHED, tagged PRUNED; the sweeper records the state
        except BaseException as exc:
            if run is not None and ctx is not None:
                run.set_tags(
                    {
                        "cellsweep.trial_state": "FAIL",
                        "cellsweep.fail_reason": f"{type(exc).__name__}: {exc}"[:500],
                    }
                )
            raise
        if trainer.interrupted and pruned is None:
            raise KeyboardInterrupt
        if ctx is not None:  # epochs actually trained: what pruning saves
            ctx.trial.set_user_attr("epochs", trainer.current_epoch + (1 if pruned else 0))
        metrics = scalar_metrics(trainer.callback_metrics)
        # wall time of the fit: an objective for accuracy-against-cost studies
        metrics["time/fit_s"] = time.perf_counter() - fit_start
        if run is not None:
            run.log_metrics({"time/fit_s": metrics["time/fit_s"]}, step=trainer.current_epoch)
            run.flush()  # the epochs' metrics first: an outage of the server ends here, or is told
        lines = _log_outputs(run, cfg, task, out_dir) if run else task.report().lines
        objective = cfg.get("objective")
        if objective and objective not in metrics:
            raise ConfigError(
                f"objective {objective!r} was never logged; logged: {', '.join(sorted(metrics))}"
            )
        if ctx is not None and run is not None:
            state = "PRUNED" if pruned else "COMPLETE"
            bad = [k for k in ctx.objectives if not math.isfinite(metrics.get(k, math.nan))]
            if bad and not pruned:
                reason = f"objective {bad[0]} is {metrics.get(bad[0], math.nan)}"
                run.set_tags({"cellsweep.trial_state": "FAIL", "cellsweep.fail_reason": reason})
                raise FloatingPointError(reason)
            run.set_tags({"cellsweep.trial_state": state})

    if pruned is not None:
        raise pruned
    _print_summary(cfg, metrics, lines, run, settings, out_dir)
    return metrics


def _print_summary(cfg, metrics, lines, run, settings, out_dir) -> None:
    shown = ", ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items()))
    print(f"\nfinal metrics: {shown}")
    for line in lines:
        print(line)
    print(f"outputs: {out_dir}")
    if run is not None:
        print(f"MLflow run {run.run_id} in experiment '{settings.experiment}'")
        print(f"  store: {redact_uri(settings.uri)}")
        print(f"  artifacts: {run.artifact_uri}")
        if settings.uri and settings.uri.startswith(("http://", "https://")):
            print(f"  open: {redact_uri(settings.uri).rstrip('/')}/{run.ui_hint()}")
        else:
            print(f"  open the UI with `cellsweep ui`, then http://127.0.0.1:5000/{run.ui_hint()}")


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
def hydra_main(cfg: DictConfig) -> float | dict[str, float] | None:
    """The Hydra app: the objective for single runs; every final metric for a sweep's trial.

    Inside a trial a bad config fails that trial (the sweep goes on); outside, it exits 2.
    """
    try:
        metrics = train(cfg)
    except USER_ERRORS as exc:
        if current_trial() is not None:
            raise
        raise UserInputExit(user_message(exc)) from None
    if current_trial() is not None:
        return metrics
    objective = cfg.get("objective")
    if not objective:
        return None
    value = metrics.get(objective, math.nan)
    return value


def main() -> None:
    """Console entry: Hydra errors propagate to us (not Hydra's printer) so they exit 2."""
    before = os.environ.get("HYDRA_FULL_ERROR")
    if before == "1":  # the user asked for full tracebacks
        hydra_main()
        return
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        run_cli("cellsweep-train", hydra_main)
    finally:
        if before is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = before


if __name__ == "__main__":
    main()
