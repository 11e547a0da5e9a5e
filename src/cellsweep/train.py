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
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import optuna
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from cellsweep.callbacks import OptunaPruning
from cellsweep.cli_errors import USER_ERRORS, run_cli, user_message
from cellsweep.console import quiet_notices
from cellsweep.errors import ConfigError, UserInputExit
from cellsweep.paths import config_dir, project_root, register_resolvers
from cellsweep.sweep.api import TrialContext, current_trial
from cellsweep.sweep.study import attrs
from cellsweep.sweep.study.record import outcome_of
from cellsweep.tasks.base import Report, TaskRun, Workload, resolve_workload
from cellsweep.threads import data_threads, parse_threads, train_threads
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
from cellsweep.tracking import tags as T
from cellsweep.tracking.callback import MLflowEpochMetrics, scalar_metrics
from cellsweep.tracking.trials import trial_run_name

log = logging.getLogger("cellsweep.train")
register_resolvers()
# Each trial's MLflow run is opened here (with per-epoch metrics and artifacts), so the sweeper
# opens none of its own (cellsweep.sweep.plugin.run.app_logs_trial_runs).
LOGS_TRIAL_RUNS = True


def _container(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def _builder(cfg: DictConfig) -> Workload:
    """The workload that ``task._target_`` names, seen only through the contract
    (tasks/base.py): its own module, or the parent of its ``build``."""
    return resolve_workload(cfg.task.get("_target_"))


def check_config(cfg: DictConfig) -> None:
    """Check a composed config without building data: the workload's ``check(task, model)``
    (the sweeper calls this before it writes anything), and cellsweep's own trainer key."""
    parse_threads(cfg.trainer.get("threads", "auto"))
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
    """A single run's name: ``run_name`` as given on the command line, else the one an
    experiment file sets (an adopted experiment names its study and trial), else the
    experiment's name (``chemotaxis/model1`` -> ``chemotaxis-model1``) or the task's, followed
    by the overrides that make this run what it is, e.g.
    ``chemotaxis-model1 task.window_steps=200 model.depth=4`` (at most 250 characters, MLflow's
    limit). Trials are named by the sweep."""
    if any(o.startswith("run_name=") for o in overrides) and cfg.get("run_name"):
        return str(cfg.run_name)
    base = experiment.replace("/", "-") if experiment else None
    base = str(cfg.get("run_name") or base or cfg.task.get("name"))
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
        T.GIT_COMMIT: commit,
        T.GIT_DIRTY: dirty,
        T.SOURCE_NAME: "cellsweep-train",
        T.COMMAND: redact_text(shlex.join(["cellsweep-train", *sys.argv[1:]])),
        T.SEED: cfg.seed,
        T.TASK: cfg.task.get("name"),
        T.OBJECTIVE: cfg.get("objective"),
    }


def _save_outputs(task: TaskRun, out_dir: Path) -> tuple[Report, Path]:
    """The task's report drawn and saved in the run folder: figures, files and the weights,
    tracked or not (``tracking=none`` still leaves the plots where the user looks)."""
    report = task.report()
    for name, fig in report.figures.items():
        fig.savefig(out_dir / name)
    for name, text in report.files.items():
        (out_dir / name).write_text(text)
    weights = out_dir / "model.pt"
    torch.save(report.weights if report.weights is not None else task.module.state_dict(), weights)
    return report, weights


def _log_outputs(run: TrackedRun, cfg: DictConfig, report: Report, weights: Path) -> list[str]:
    """Config, overrides, the task's figures and files, and the weights, as artifacts.

    The report is drawn and saved locally first (``_save_outputs``), while the metrics sender
    may still be catching up after a server outage; the epochs' metrics are then flushed before
    any artifact, so an outage ends (or is told) there and the trial's end overlaps the wait
    instead of adding to it.
    """
    run.flush()  # the epochs' metrics first
    run.log_text(redact_text(OmegaConf.to_yaml(cfg, resolve=True)), "config.yaml")
    run.log_text(redact_text(OmegaConf.to_yaml(_hydra_overrides())), "overrides.yaml")
    for name, fig in report.figures.items():
        run.log_figure(fig, name)
    for name, text in report.files.items():
        run.log_text(text, name)
    run.log_file(weights)
    if report.metrics:
        run.log_metrics(report.metrics, step=0)
    if report.tags:
        run.set_tags(T.task_tags(report.tags))
    return report.lines


def _check_seed(cfg: DictConfig) -> int:
    seed = cfg.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return seed


@dataclass
class Fit:
    """A run ready to fit: built before the MLflow run exists, so bad input logs nothing."""

    task: TaskRun
    trainer: L.Trainer
    epoch_logger: MLflowEpochMetrics
    settings: TrackingSettings
    out_dir: Path
    ctx: TrialContext | None


def prepare_fit(cfg: DictConfig) -> Fit:
    """Everything that can fail on bad input, done first: the data are loaded (or simulated)
    and the trainer is built before any run is opened."""
    seed = _check_seed(cfg)
    settings = TrackingSettings.from_config(cfg.tracking)
    ctx = current_trial()
    if ctx is None:  # a sweep checked once; a trial rides out an outage instead
        check_reachable(settings)
    out_dir = Path(cfg.paths.output_dir) if HydraConfig.initialized() else Path(tempfile.mkdtemp())
    out_dir.mkdir(parents=True, exist_ok=True)
    L.seed_everything(seed, workers=True, verbose=False)  # before the network is initialized
    task = build_task(cfg, out_dir)
    setting, cap = cfg.trainer.get("threads", "auto"), torch.get_num_threads()
    torch.set_num_threads(data_threads(setting))
    task.datamodule.prepare_data()
    task.datamodule.setup("fit")
    n_params = sum(p.numel() for p in task.module.parameters())
    torch.set_num_threads(train_threads(setting, n_params, cap))
    epoch_logger = MLflowEpochMetrics()
    callbacks: list[L.Callback] = [epoch_logger] if settings.enabled else []
    if ctx is not None:  # the public callback any app adds; this run logs its own metrics
        callbacks.append(OptunaPruning(log_metrics=False))
    trainer_args = OmegaConf.to_container(cfg.trainer, resolve=True)
    trainer_args.pop("threads", None)  # cellsweep's key (threads.py), not the Trainer's
    if trainer_args.get("enable_progress_bar") is None:  # a bar per batch of every trial: none
        trainer_args["enable_progress_bar"] = ctx is None
    trainer: L.Trainer = hydra.utils.instantiate(trainer_args, callbacks=callbacks)
    return Fit(task, trainer, epoch_logger, settings, out_dir, ctx)


def run_identity(cfg: DictConfig, ctx: TrialContext | None) -> tuple[str, dict[str, Any]]:
    """The run's name and tags: a single run is named by what makes it what it is, a trial
    by its number and searched params (``#05 window_steps=100 order=2 lr=3.8e-03``; it is the
    child of the study's run, which names the study)."""
    tags = _run_tags(cfg)
    if ctx is None:
        return single_run_name(cfg, _hydra_overrides(), _experiment_choice()), tags
    tags.update(T.trial_tags(ctx.study_name, ctx.trial.number, ctx.parent_run_id))
    tags.update(T.resumed_tags(ctx.resume_run_id, ctx.resume_epoch))
    # the command that reruns this trial alone, not the sweep's
    tags[T.COMMAND] = redact_text(shlex.join(["cellsweep-train", *ctx.rerun]))
    return trial_run_name(ctx.trial.number, ctx.trial.params), tags


@contextlib.contextmanager
def mlflow_run(cfg: DictConfig, fit: Fit) -> Iterator[TrackedRun | None]:
    """The run's lifecycle: opened with its params, fed by the epoch logger, and ended
    FINISHED, FAILED or KILLED by how the block exits; None when tracking is off."""
    if not fit.settings.enabled:
        yield None
        return
    run_name, tags = run_identity(cfg, fit.ctx)
    with start_run(fit.settings, run_name, tags, spill_dir=fit.out_dir) as run:
        info = {k: str(v) for k, v in fit.task.info.items()}
        run.log_params({**flatten(_container(cfg)), **info})
        fit.epoch_logger.run = run
        source = cfg.get("adopted")  # an adopted experiment: the trial it came from
        if source:
            source = _container(source)
            run.set_tags(T.adopted_tags(source, run.path_of(str(source.get("run_id") or ""))))
        if fit.ctx is not None:
            fit.ctx.trial.set_user_attr(attrs.RUN_ID, run.run_id)
        yield run


def fit_model(
    fit: Fit, run: TrackedRun | None
) -> tuple[dict[str, float], optuna.TrialPruned | None]:
    """Fit; the final metrics (with the fit's wall time) and the pruning, if the pruner stopped
    it. A trial's run that raises is tagged FAIL with the reason before the error goes on."""
    pruned: optuna.TrialPruned | None = None
    fit_start = time.perf_counter()
    try:
        resume = fit.ctx.resume_from if fit.ctx is not None else None  # an interrupted trial's
        fit.trainer.fit(
            fit.task.module,
            datamodule=fit.task.datamodule,
            ckpt_path=resume,
            weights_only=False if resume else None,  # the sweep's own file, with the loops' state
        )
    except optuna.TrialPruned as exc:
        pruned = exc  # the run ends FINISHED, tagged PRUNED; the sweeper records the state
    except BaseException as exc:
        if run is not None and fit.ctx is not None:
            T.record_trial_outcome(run.set_tags, T.FAIL, f"{type(exc).__name__}: {exc}")
        raise
    if fit.trainer.interrupted and pruned is None:
        raise KeyboardInterrupt
    if fit.ctx is not None:  # epochs actually trained: what pruning saves
        fit.ctx.trial.set_user_attr(attrs.EPOCHS, fit.trainer.current_epoch + (1 if pruned else 0))
    metrics = scalar_metrics(fit.trainer.callback_metrics)
    metrics[T.FIT_TIME] = time.perf_counter() - fit_start
    if run is not None:
        run.log_metrics({T.FIT_TIME: metrics[T.FIT_TIME]}, step=fit.trainer.current_epoch)
    return metrics, pruned


def record_trial_state(
    run: TrackedRun, ctx: TrialContext, metrics: dict[str, float], pruned: BaseException | None
) -> None:
    """The trial's state on its run, by the sweep's own rule (record.outcome_of), so the run
    and the study agree; a NaN or missing objective fails the trial here. A pruned trial's run
    ends KILLED, its epoch and reason in its description."""
    out = outcome_of(metrics, pruned, ctx.objectives)
    T.record_trial_outcome(run.set_tags, out.state.name, out.reason)
    run.end_status = T.END_STATUS[out.state.name]
    if out.state.name == T.FAIL:
        raise FloatingPointError(out.reason)


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit one run and log it; returns the final epoch's metrics. Torch's threads are put
    back afterwards, so the next trial of a sweep worker starts from the worker's share."""
    threads = torch.get_num_threads()
    try:
        return _train(cfg)
    finally:
        torch.set_num_threads(threads)


def _train(cfg: DictConfig) -> dict[str, float]:
    fit = prepare_fit(cfg)
    with mlflow_run(cfg, fit) as run:
        metrics, pruned = fit_model(fit, run)
        report, weights = _save_outputs(fit.task, fit.out_dir)
        lines = _log_outputs(run, cfg, report, weights) if run else report.lines
        objective = cfg.get("objective")
        if objective and objective not in metrics:
            raise ConfigError(
                f"objective {objective!r} was never logged; logged: {', '.join(sorted(metrics))}"
            )
        if fit.ctx is not None and run is not None:
            record_trial_state(run, fit.ctx, metrics, pruned)
    if pruned is not None:
        raise pruned
    if fit.ctx is not None:  # a trial is its sweep's one line; its run holds the rest
        return metrics
    _print_summary(cfg, metrics, lines, run, fit.settings, fit.out_dir)
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


def discard_rejected_run_dir() -> None:
    """A single run whose input was rejected leaves no folder behind, as it leaves no MLflow
    run: Hydra made ``outputs/runs/<date>/<time>/`` (its ``.hydra/`` and the job's log) before
    the input could be checked. Only a folder holding nothing else is removed, and its date
    folder if that is left empty."""
    if not HydraConfig.initialized():
        return
    hc = HydraConfig.get()
    out = Path(hc.runtime.output_dir)
    log_name = f"{hc.job.name}.log"
    ours = {str(hc.output_subdir or ".hydra"), log_name}
    if not out.is_dir() or any(e.name not in ours for e in out.iterdir()):
        return
    for handler in list(logging.root.handlers):  # the job's log file, opened by Hydra
        if (
            isinstance(handler, logging.FileHandler)
            and Path(handler.baseFilename) == out / log_name
        ):
            handler.close()
            logging.root.removeHandler(handler)
    shutil.rmtree(out, ignore_errors=True)
    with contextlib.suppress(OSError):  # the date folder, if this run was its only one
        if out.parent.parent.name == "runs" and not any(out.parent.iterdir()):
            out.parent.rmdir()


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
def hydra_main(cfg: DictConfig) -> float | dict[str, float] | None:
    """The Hydra app: the objective for single runs; every final metric for a sweep's trial.

    Inside a trial a bad config fails that trial (the sweep goes on); outside, it exits 2.
    """
    if current_trial() is None:  # a sweep's plugin already did (worker: none at all)
        quiet_notices(worker=False)  # Lightning's notices once: it says some at each Trainer
    try:
        metrics = train(cfg)
    except USER_ERRORS as exc:
        if current_trial() is not None:
            raise
        discard_rejected_run_dir()
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
