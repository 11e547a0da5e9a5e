"""The sweep loop: ask a trial, compose its config, run the job with the live trial, tell.

Trials run one after another in this process (each with a live ``optuna.Trial``, so the job can
prune); more processes on the same storage pull trials concurrently. The study ends when
``n_trials`` trials have finished (complete, pruned or failed) in total, across runs: the same
command resumes. A job that raises, or returns NaN or inf, fails its trial, and the sweep goes on
while the failed fraction stays within ``max_failure_rate``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from cellsweep.errors import ConfigError, SweepAborted
from cellsweep.sweep.context import TrialContext, trial_scope
from cellsweep.sweep.report import study_figures, study_summary
from cellsweep.sweep.space import SearchSpace, suggest
from cellsweep.sweep.study import (
    make_pruner,
    make_sampler,
    make_storage,
    normalize_directions,
    open_study,
)

log = logging.getLogger("cellsweep.sweep")
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@dataclass
class SweepSettings:
    """The sweeper's config keys (conf/hydra/sweeper/cellsweep via the plugin)."""

    direction: Any = "minimize"
    n_trials: int = 20
    sampler: Any = None
    pruner: Any = None
    storage: str | None = None
    study_name: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    max_failure_rate: float = 0.0
    n_workers: int = 1
    objective: Any = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.n_trials, int) or self.n_trials <= 0:
            raise ConfigError(
                f"hydra.sweeper.n_trials must be a positive integer, got {self.n_trials}"
            )
        if not 0.0 <= float(self.max_failure_rate) <= 1.0:
            raise ConfigError("hydra.sweeper.max_failure_rate must be within [0, 1]")
        if not isinstance(self.n_workers, int) or self.n_workers < 1:
            raise ConfigError(f"hydra.sweeper.n_workers must be >= 1, got {self.n_workers}")


@dataclass
class TrialOutcome:
    state: TrialState
    values: list[float] | None = None
    reason: str = ""


def objective_names(objective: Any, default: str | None, n_directions: int) -> list[str]:
    names = [objective] if isinstance(objective, str) else list(objective or [])
    if not names and default:
        names = [default]
    if len(names) != n_directions:
        raise ConfigError(
            f"hydra.sweeper.objective names {len(names)} metric(s) but direction has {n_directions}"
        )
    return [str(n) for n in names]


def counts(study: optuna.Study) -> dict[str, int]:
    trials = study.get_trials(deepcopy=False)
    out = {s.name: 0 for s in TrialState}
    for t in trials:
        out[t.state.name] += 1
    out["FINISHED"] = sum(out[s.name] for s in FINISHED)
    return out


def outcome_of(result: Any, error: BaseException | None, objectives: Sequence[str]) -> TrialOutcome:
    """Map what the job did to a trial state; NaN and inf fail the trial with a reason."""
    if isinstance(error, optuna.TrialPruned):
        return TrialOutcome(TrialState.PRUNED, reason=str(error))
    if error is not None:
        msg = str(error).splitlines()[0] if str(error) else ""
        return TrialOutcome(TrialState.FAIL, reason=f"{type(error).__name__}: {msg}"[:500])
    if not isinstance(result, Mapping):
        return TrialOutcome(TrialState.FAIL, reason=f"job returned {type(result).__name__}")
    values = []
    for name in objectives:
        if name not in result:
            return TrialOutcome(TrialState.FAIL, reason=f"objective {name!r} was not logged")
        v = float(result[name])
        if not math.isfinite(v):
            return TrialOutcome(TrialState.FAIL, reason=f"objective {name} is {v}")
        values.append(v)
    return TrialOutcome(TrialState.COMPLETE, values=values)


def progress_line(study: optuna.Study, n_trials: int, trial: int, out: TrialOutcome) -> str:
    c = counts(study)
    best = ""
    if len(study.directions) == 1 and c["COMPLETE"]:
        bt = study.best_trial
        best = f", best {bt.value:.6g} (#{bt.number})"
    value = ", ".join(f"{v:.6g}" for v in out.values) if out.values else out.reason
    return (
        f"[trial {trial}] {out.state.name} {value} | done {c['FINISHED']}/{n_trials}, "
        f"running {c['RUNNING']}, pruned {c['PRUNED']}, failed {c['FAIL']}{best}"
    )


RunJob = Callable[[list[str], TrialContext], tuple[Any, BaseException | None]]


def run_study(
    settings: SweepSettings,
    space: SearchSpace,
    base_overrides: list[str],
    default_objective: str | None,
    default_storage: Path,
    run_job: RunJob,
    tracker: Any | None = None,
) -> optuna.Study:
    """Run trials until the study holds ``n_trials`` finished ones; returns the study."""
    directions = normalize_directions(settings.direction)
    objectives = objective_names(settings.objective, default_objective, len(directions))
    name = settings.study_name
    if not name:
        raise ConfigError("hydra.sweeper.study_name is empty")
    storage = make_storage(settings.storage, default_storage)
    sampler = make_sampler(settings.sampler, settings.seed)
    pruner = make_pruner(settings.pruner)
    study, resumed = open_study(storage, name, directions, sampler, pruner)
    pruning = len(directions) == 1 and not isinstance(pruner, optuna.pruners.NopPruner)
    study.set_user_attr("objectives", objectives)
    parent = None
    if tracker is not None:
        parent = tracker.start(name, settings.n_trials, directions, objectives, resumed)
    c = counts(study)
    print(
        f"study {name!r}: {'resuming with ' + str(c['FINISHED']) if resumed else 'new, '}"
        f"{' finished' if resumed else ''} trials, target {settings.n_trials}",
        flush=True,
    )
    status = "FINISHED"
    try:
        while True:
            c = counts(study)
            if c["FINISHED"] + c["RUNNING"] >= settings.n_trials:
                break
            if c["FAIL"] and c["FAIL"] / max(c["FINISHED"], 1) > settings.max_failure_rate:
                raise SweepAborted(
                    f"{c['FAIL']} of {c['FINISHED']} trials failed, above max_failure_rate="
                    f"{settings.max_failure_rate}; the study keeps every record, see "
                    f"`cellsweep best {name}`"
                )
            trial = study.ask()
            sampled = suggest(trial, space)
            overrides = [*base_overrides, *sampled]
            trial.set_user_attr("overrides", overrides)
            ctx = TrialContext(
                trial=trial,
                study_name=name,
                objectives=objectives,
                directions=directions,
                pruning=pruning,
                parent_run_id=parent,
                overrides=overrides,
            )
            t0 = time.time()
            try:
                with trial_scope(ctx):
                    result, error = run_job(overrides, ctx)
            except BaseException as exc:  # Ctrl-C or an exit: fail the trial cleanly, then stop
                trial.set_user_attr("fail_reason", f"interrupted: {type(exc).__name__}")
                study.tell(trial, state=TrialState.FAIL)
                raise
            out = outcome_of(result, error, objectives)
            trial.set_user_attr("duration_s", time.time() - t0)
            if out.reason:
                trial.set_user_attr(
                    "fail_reason" if out.state == TrialState.FAIL else "note", out.reason
                )
            exhausted = False
            try:  # the trial is stored even when the sampler's after_trial hook raises
                if out.state == TrialState.COMPLETE:
                    study.tell(trial, out.values)
                else:
                    study.tell(trial, state=out.state)
            except RuntimeError as exc:
                if "Study.stop" not in str(exc):
                    raise
                exhausted = True  # grid samplers stop the study once every point is visited
            print(progress_line(study, settings.n_trials, trial.number, out), flush=True)
            if exhausted:
                print("the sampler has no candidates left: stopping", flush=True)
                break
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    except BaseException:
        status = "FAILED"
        raise
    finally:
        if tracker is not None:
            tracker.finish(
                study_summary(study, objectives), study_figures(study, objectives), status
            )
    return study
