"""What a trial came to, and how the study records it: the rules of outcome written once.

A job's result (a number, a sequence, or named metrics) becomes the trial's values, or a FAIL
with a reason when a value is missing, not a number, NaN or inf; an exception fails the trial
and ``optuna.TrialPruned`` prunes it. ``cellsweep-train`` applies the same check to its own
metrics (train.py), so a trial's MLflow run and its Optuna state never disagree.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from cellsweep.errors import SweepAborted
from cellsweep.sweep import compat
from cellsweep.sweep.study import attrs, resume
from cellsweep.vocabulary import REASON_CHARS

log = logging.getLogger("cellsweep.sweep")
FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@dataclass
class TrialOutcome:
    """The state a trial ends in, its values, and why (a fail reason or a pruning note)."""

    state: TrialState
    values: list[float] | None = None
    reason: str = ""
    metrics: dict[str, float | str] = field(default_factory=dict)  # all the job returned


def end_metrics(result: Any) -> dict[str, float | str]:
    """Every scalar of a job's named metrics, kept on the trial beside its objective values
    (``val/S_rel_err`` beside ``val/pred_err``); a value that is not finite is kept as text,
    which the study's storage can hold."""
    if not isinstance(result, Mapping):
        return {}
    out: dict[str, float | str] = {}
    for name, item in result.items():
        try:
            v = float(item)
        except (TypeError, ValueError):
            continue
        out[str(name)] = v if math.isfinite(v) else str(v)
    return out


def objective_values(result: Any, objectives: Sequence[str]) -> TrialOutcome:
    """COMPLETE with one finite float per objective, else FAIL with the first reason."""
    if isinstance(result, Mapping):  # named metrics (cellsweep-train): pick the objectives
        if missing := [n for n in objectives if n not in result]:
            return TrialOutcome(TrialState.FAIL, reason=f"objective {missing[0]!r} was not logged")
        raw = [result[name] for name in objectives]
    elif isinstance(result, Sequence) and not isinstance(result, str):  # one per direction
        raw = list(result)
    else:  # a float or an int, as a plain Hydra app returns for one direction
        raw = [result]
    if len(raw) != len(objectives):
        return TrialOutcome(
            TrialState.FAIL,
            reason=f"job returned {len(raw)} value(s) for {len(objectives)} direction(s)",
        )
    values = []
    for name, item in zip(objectives, raw, strict=True):
        try:
            v = float(item)
        except (TypeError, ValueError):
            return TrialOutcome(
                TrialState.FAIL, reason=f"job returned {type(item).__name__}, not a number"
            )
        if not math.isfinite(v):
            return TrialOutcome(TrialState.FAIL, reason=f"objective {name} is {v}")
        values.append(v)
    return TrialOutcome(TrialState.COMPLETE, values=values)


def error_reason(error: BaseException) -> str:
    """The one line a failed trial keeps of its exception."""
    msg = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {msg}"[:REASON_CHARS]


def outcome_of(result: Any, error: BaseException | None, objectives: Sequence[str]) -> TrialOutcome:
    """Map what the job did to a trial state; NaN and inf fail the trial with a reason."""
    if isinstance(error, optuna.TrialPruned):
        return TrialOutcome(TrialState.PRUNED, reason=str(error))
    if error is not None:
        return TrialOutcome(TrialState.FAIL, reason=error_reason(error))
    out = objective_values(result, objectives)
    out.metrics = end_metrics(result)
    return out


def state_counts(trials: Iterable[FrozenTrial]) -> dict[str, int]:
    """Trials by state name, every state present: summaries and progress lines read the same."""
    out = {s.name: 0 for s in TrialState}
    for t in trials:
        out[t.state.name] += 1
    return out


def counts(study: optuna.Study) -> dict[str, int]:
    """Trial counts by state, and ``done``: the finished ones, less the stale trials that were
    queued again (their retry counts instead)."""
    trials = study.get_trials(deepcopy=False)
    out = state_counts(trials)
    retried = sum(
        1 for t in trials if t.state == TrialState.FAIL and t.user_attrs.get(attrs.RETRIED)
    )
    out["done"] = sum(out[s.name] for s in FINISHED_STATES) - retried
    return out


def progress_line(
    study: optuna.Study,
    n_trials: int,
    trial: int | None = None,
    out: TrialOutcome | None = None,
    since: tuple[float, int] | None = None,
) -> str:
    """One line per finished trial (or per change, when the workers run elsewhere): the trial,
    then the study (done, running, best so far) and, given ``since`` (when this launch started,
    on ``time.monotonic``, and how many trials were done then), the time spent and left."""
    c = counts(study)
    best = ""
    if len(study.directions) == 1 and c["COMPLETE"]:
        bt = study.best_trial
        best = f", best {bt.value:.6g} (#{bt.number})"
    head = "[study]"
    if out is not None:
        value = ", ".join(f"{v:.6g}" for v in out.values) if out.values else out.reason
        head = f"[trial {trial}] {out.state.name} {value} |"
    line = (
        f"{head} done {c['done']}/{n_trials}, "
        f"running {c['RUNNING']}, pruned {c['PRUNED']}, failed {c['FAIL']}{best}"
    )
    if since is not None:
        elapsed, done = time.monotonic() - since[0], c["done"]
        line += f" | {time_left(elapsed, done - since[1], done, n_trials)}"
    return line


def clock(seconds: float) -> str:
    """``1:05`` or ``2:01:05``: a duration as a person reads it on a progress line."""
    m, s = divmod(round(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def time_left(elapsed: float, done_here: int, done: int, n_trials: int) -> str:
    """Elapsed time, and the time left at this launch's pace (all its workers together)."""
    text = f"{clock(elapsed)} elapsed"
    if done >= n_trials:
        return text
    if done_here > 0:
        return f"{text}, ~{clock(elapsed / done_here * (n_trials - done))} left"
    return text


def check_failure_rate(c: Mapping[str, int], max_failure_rate: float, name: str) -> None:
    """Stop a sweep whose trials fail more often than the user allowed (the config is wrong)."""
    failed = c["done"] - c["COMPLETE"] - c["PRUNED"]  # retried ones aside
    if failed and failed / max(c["done"], 1) > max_failure_rate:
        raise SweepAborted(
            f"{failed} of {c['done']} trials failed, above "
            f"max_failure_rate={max_failure_rate}; the study keeps "
            f"every record, see `cellsweep best {name}`"
        )


def requeue(study: optuna.Study, trial: optuna.Trial | FrozenTrial) -> None:
    """Queue the trial's params again: a trial failed for a reason not its own is rerun first,
    from its checkpoint when it saved one (study/resume.py)."""
    study.enqueue_trial(trial.params, user_attrs=resume.carried(trial), skip_if_exists=False)


def interrupted_reason(exc: BaseException, signal_name: str = "") -> str:
    """``interrupted: SIGTERM``: the one reason the study and the trial's MLflow run both keep."""
    return f"interrupted: {signal_name or type(exc).__name__}"


def fail_interrupted(
    study: optuna.Study, trial: optuna.Trial, exc: BaseException, signal_name: str = ""
) -> str:
    """Fail a trial stopped by Ctrl-C, a signal or an exit; a Ctrl-C or a signal is retried
    (from its checkpoint), not counted. Returns the reason."""
    why = interrupted_reason(exc, signal_name)
    with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
        trial.set_user_attr(attrs.FAIL_REASON, why)
        retry = bool(signal_name) or isinstance(exc, KeyboardInterrupt)
        if retry:  # the rerun of the same command runs its parameters first
            trial.set_user_attr(attrs.RETRIED, True)
        study.tell(trial, state=TrialState.FAIL)
        if retry:
            requeue(study, trial)
    return why


def taken_elsewhere(study: optuna.Study, trial: optuna.Trial) -> bool:
    """Whether another process failed this running trial as stale (and queued its retry)."""
    return compat.stored_state(study, trial).is_finished()


def record_outcome(
    study: optuna.Study, trial: optuna.Trial, out: TrialOutcome, started: float
) -> str:
    """Tell the study; ``"told"``, ``"stale"`` (another process failed it meanwhile: its retry
    counts) or ``"exhausted"`` (a grid sampler has no point left: the sweep stops)."""
    trial.set_user_attr(attrs.DURATION, time.time() - started)
    if out.metrics:
        trial.set_user_attr(attrs.METRICS, out.metrics)
    if out.reason:
        key = attrs.FAIL_REASON if out.state == TrialState.FAIL else attrs.NOTE
        trial.set_user_attr(key, out.reason)
    try:  # the trial is stored even when the sampler's after_trial hook raises
        if out.state == TrialState.COMPLETE:
            study.tell(trial, out.values)
        else:
            study.tell(trial, state=out.state)
    except optuna.exceptions.UpdateFinishedTrialError:
        log.warning(
            "trial %d was failed as stale by another process as it ended here; "
            "its retry counts instead",
            trial.number,
        )
        return "stale"
    except RuntimeError as exc:  # how a grid or brute-force sampler says it has no point left
        if not _raised_by_study_stop(exc):
            raise
        return "exhausted"
    return "told"


def _raised_by_study_stop(exc: BaseException) -> bool:
    """Whether ``exc`` came out of ``Study.stop`` itself: samplers that run out of points (grid,
    brute force) call it from ``after_trial``, and outside ``optimize()`` it raises a bare
    RuntimeError. Told by where it was raised, not by its message."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code is optuna.study.Study.stop.__code__
