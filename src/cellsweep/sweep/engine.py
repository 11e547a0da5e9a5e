"""The sweep loop: ask a trial, compose its config, run the job with the live trial, tell.

Trials run one after another in this process (each with a live ``optuna.Trial``, so the job can
prune); more processes on the same storage pull trials concurrently. The study ends when
``n_trials`` trials have finished (complete, pruned or failed) in total, across runs: the same
command resumes. A job that raises, or returns NaN or inf, fails its trial, and the sweep goes on
while the failed fraction stays within ``max_failure_rate``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import socket
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import optuna
from optuna.trial import TrialState

from cellsweep.errors import ConfigError, SweepAborted
from cellsweep.sweep.context import TrialContext, trial_scope
from cellsweep.sweep.identity import StudyIdentity
from cellsweep.sweep.report import study_figures, study_summary
from cellsweep.sweep.space import SearchSpace, suggest
from cellsweep.sweep.study import (
    ask_lock,
    make_pruner,
    make_sampler,
    make_storage,
    normalize_directions,
    open_study,
    seeded,
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
    threads_per_worker: int = 0
    objective: Any = None
    seed: int | None = None
    heartbeat_interval: float = 10.0
    grace_period: float = 60.0
    # top-level config keys that say where things go, not what a study is (identity.py)
    identity_ignore: Sequence[str] = ("paths", "tracking", "storage", "run_name")

    def __post_init__(self) -> None:
        if not isinstance(self.n_trials, int) or self.n_trials <= 0:
            raise ConfigError(
                f"hydra.sweeper.n_trials must be a positive integer, got {self.n_trials}"
            )
        if not 0.0 <= float(self.max_failure_rate) <= 1.0:
            raise ConfigError("hydra.sweeper.max_failure_rate must be within [0, 1]")
        if not isinstance(self.n_workers, int) or self.n_workers < 1:
            raise ConfigError(f"hydra.sweeper.n_workers must be >= 1, got {self.n_workers}")
        if not isinstance(self.threads_per_worker, int) or self.threads_per_worker < 0:
            raise ConfigError(
                "hydra.sweeper.threads_per_worker must be >= 0 (0: cores / n_workers), "
                f"got {self.threads_per_worker}"
            )

    def threads(self) -> int:
        """Torch threads for each worker: the cores shared out, so workers do not oversubscribe."""
        if self.threads_per_worker:
            return self.threads_per_worker
        return max(1, (os.cpu_count() or 1) // self.n_workers)


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
    """Trial counts by state; FINISHED excludes stale trials that were queued again."""
    trials = study.get_trials(deepcopy=False)
    out = {s.name: 0 for s in TrialState}
    for t in trials:
        out[t.state.name] += 1
    retried = sum(1 for t in trials if t.state == TrialState.FAIL and t.user_attrs.get("retried"))
    out["FINISHED"] = sum(out[s.name] for s in FINISHED) - retried
    return out


def fail_stale_trials(study: optuna.Study, grace_period: float, tracker: Any | None) -> list[int]:
    """Fail RUNNING trials whose heartbeat stopped (a killed worker) and queue them again.

    Optuna's own heartbeat exists only for RDB storages; this one works on every storage: a
    worker stamps ``heartbeat`` on its running trial, and any live process of the study (a
    worker between trials, a worker's heartbeat thread during one, the watching parent) that
    finds a stamp older than ``grace_period`` fails the trial (its MLflow run too) and
    enqueues the same params. Callers hold the ask lock, so one of them does it; where a
    storage has no such lock, the loser of the race gets Optuna's ``UpdateFinishedTrialError``
    and leaves the trial (and its retry) to the winner.
    """
    now, failed = time.time(), []
    storage = study._storage
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        last = t.user_attrs.get("heartbeat")
        if last is None and t.datetime_start is not None:
            last = t.datetime_start.timestamp()
        if last is None or now - float(last) <= grace_period:
            continue
        reason = f"stale: no heartbeat for {now - float(last):.0f} s (worker killed?)"
        try:
            storage.set_trial_user_attr(t._trial_id, "fail_reason", reason)
            storage.set_trial_user_attr(t._trial_id, "failed_by", WORKER_ID)
            storage.set_trial_user_attr(t._trial_id, "retried", True)
            storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another process failed it first (or its worker finished it after all)
        study.enqueue_trial(t.params, user_attrs={"retry_of": t.number}, skip_if_exists=False)
        run_id = t.user_attrs.get("mlflow_run_id")
        if tracker is not None and run_id and hasattr(tracker, "fail_run"):
            tracker.fail_run(run_id, reason)
        log.warning("trial %d: %s; queued again", t.number, reason)
        failed.append(t.number)
    return failed


class Heartbeat:
    """Stamps the running trial every ``interval`` seconds from a daemon thread, and runs
    ``check`` (the stale-trial check) after each stamp, so that a dead worker's trial is
    failed within ``grace_period + interval`` even while this worker's trial is long."""

    def __init__(
        self, trial: optuna.Trial, interval: float, check: Callable[[], Any] | None = None
    ) -> None:
        self.trial, self.interval, self.check = trial, interval, check
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(Exception):  # a missed beat is retried next interval
                self.trial.set_user_attr("heartbeat", time.time())
            if self.check is not None and not self._stop.is_set():
                try:
                    self.check()
                except Exception as exc:  # the next interval tries again
                    log.debug("stale-trial check failed: %s", exc)

    def __enter__(self) -> Heartbeat:
        self.trial.set_user_attr("heartbeat", time.time())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=max(5.0, 2 * self.interval))


def outcome_of(result: Any, error: BaseException | None, objectives: Sequence[str]) -> TrialOutcome:
    """Map what the job did to a trial state; NaN and inf fail the trial with a reason."""
    if isinstance(error, optuna.TrialPruned):
        return TrialOutcome(TrialState.PRUNED, reason=str(error))
    if error is not None:
        msg = str(error).splitlines()[0] if str(error) else ""
        return TrialOutcome(TrialState.FAIL, reason=f"{type(error).__name__}: {msg}"[:500])
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


def progress_line(
    study: optuna.Study, n_trials: int, trial: int | None = None, out: TrialOutcome | None = None
) -> str:
    """One line per finished trial (or per change, when the workers run elsewhere)."""
    c = counts(study)
    best = ""
    if len(study.directions) == 1 and c["COMPLETE"]:
        bt = study.best_trial
        best = f", best {bt.value:.6g} (#{bt.number})"
    head = "[study]"
    if out is not None:
        value = ", ".join(f"{v:.6g}" for v in out.values) if out.values else out.reason
        head = f"[trial {trial}] {out.state.name} {value} |"
    return (
        f"{head} done {c['FINISHED']}/{n_trials}, "
        f"running {c['RUNNING']}, pruned {c['PRUNED']}, failed {c['FAIL']}{best}"
    )


def check_failure_rate(c: Mapping[str, int], settings: SweepSettings, name: str) -> None:
    failed = c["FINISHED"] - c["COMPLETE"] - c["PRUNED"]  # retried ones aside
    if failed and failed / max(c["FINISHED"], 1) > settings.max_failure_rate:
        raise SweepAborted(
            f"{failed} of {c['FINISHED']} trials failed, above "
            f"max_failure_rate={settings.max_failure_rate}; the study keeps "
            f"every record, see `cellsweep best {name}`"
        )


class InterruptWatch:
    """Remembers whether SIGINT or SIGTERM arrived, whatever the trial's code made of it.

    Lightning turns Ctrl-C inside ``fit`` into its own shutdown and a ``SystemExit``; the sweep
    still has to end its parent run as KILLED, not FAILED. SIGTERM (a scheduler's stop) is
    treated as Ctrl-C so that the running trial is failed cleanly as well.

    Only the first signal interrupts. A second one (Ctrl-C pressed twice, or a scheduler that
    signals each task of an array) would otherwise land inside the cleanup and leave the trial
    RUNNING until another worker's heartbeat check fails it; the cleanup takes seconds, and
    SIGKILL still stops everything at once.
    """

    def __init__(self) -> None:
        self.interrupted = False
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.interrupted:
            # os.write, not print: a print here could re-enter one the signal interrupted
            os.write(2, f"{name} again: already stopping, recording the running trial\n".encode())
            return
        self.interrupted = True
        raise KeyboardInterrupt(name)

    def __enter__(self) -> InterruptWatch:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def check_workers(study: optuna.Study, workers: Sequence[Worker]) -> None:
    """Say how many processes ran trials; raise when a worker process could not start.

    A local worker that exited non-zero without ever taking a trial could not start (a wrong
    command, an import error): an error, though the study may be complete. One that exited
    non-zero after taking trials was killed mid-study: its trials are retried, so a warning.
    """
    ran = {t.user_attrs.get("worker") for t in study.get_trials(deepcopy=False)} - {None}
    failed = [p for p in workers if p.returncode not in (0, None)]
    host = socket.gethostname()
    never = [p for p in failed if getattr(p, "pid", None) and f"{host}:{p.pid}" not in ran]
    print(f"trials ran in {len(ran)} process(es); {len(workers)} worker(s) launched", flush=True)
    if never:
        codes = ", ".join(str(p.returncode) for p in never)
        raise SweepAborted(
            f"{len(never)} of {len(workers)} worker process(es) could not start (exit code "
            f"{codes}); see their output above"
        )
    if failed:
        log.warning(
            "%d worker process(es) exited with %s", len(failed), [p.returncode for p in failed]
        )


RunJob = Callable[[list[str], TrialContext], tuple[Any, BaseException | None]]
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"  # which host and process ran a trial


class Worker(Protocol):
    """A worker process or cluster job, seen through the ``subprocess.Popen`` methods used."""

    returncode: int | None

    def poll(self) -> int | None: ...
    def wait(self) -> int: ...
    def terminate(self) -> None: ...


def run_study(
    settings: SweepSettings,
    space: SearchSpace,
    base_overrides: list[str],
    default_objective: str | None,
    default_storage: Path,
    run_job: RunJob,
    tracker: Any | None = None,
    spawn_workers: Callable[[str | None], list[Worker]] | None = None,
    parent_run_id: str | None = None,
    run_trials: bool = True,
    identity: StudyIdentity | None = None,
    worker: bool = False,
) -> optuna.Study:
    """Run trials until the study holds ``n_trials`` finished ones; returns the study.

    The main process creates the study and the MLflow parent run, then ``spawn_workers`` starts
    the extra worker processes (which pass ``parent_run_id`` and no tracker); every process pulls
    trials until the total is reached. Counting and asking happen under the storage's lock (a
    lock file, or a PostgreSQL advisory lock across hosts), so workers never overshoot
    ``n_trials``; a worker with nothing left to ask waits for the others' running trials.
    With ``run_trials=False`` (workers on a cluster) this process only watches: it shows
    progress, fails stale trials, and stops when the study is done or every worker has ended.
    A ``worker`` (a process this one spawned) uses ``tracker`` only to fail the MLflow runs of
    stale trials; the parent run is this process's. ``identity`` is checked against the
    stored study's (identity.py) before anything is written.
    """
    directions = normalize_directions(settings.direction)
    objectives = objective_names(settings.objective, default_objective, len(directions))
    name = settings.study_name
    if not name:
        raise ConfigError("hydra.sweeper.study_name is empty")
    make_sampler(settings.sampler, settings.seed)  # a bad sampler is exit 2, before writing
    pruner = make_pruner(settings.pruner)
    lock = ask_lock(settings.storage, default_storage, name)
    # asks without a lock (SQLite, MySQL) may count the same trials: tell the processes apart
    asker = "" if not isinstance(lock, contextlib.nullcontext) else WORKER_ID
    reseed = seeded(settings.sampler, settings.seed)

    def sampler_for(n_existing: int) -> optuna.samplers.BaseSampler:
        return make_sampler(settings.sampler, settings.seed, n_existing, asker)

    with lock:  # workers launched together create one schema, one study and one parent run
        storage = make_storage(settings.storage, default_storage)
        study, resumed = open_study(storage, name, directions, sampler_for(0), pruner, identity)
        if study.user_attrs.get("objectives") != objectives:
            study.set_user_attr("objectives", objectives)
        if study.metric_names != objectives:  # optuna-dashboard's axis labels
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.set_metric_names(objectives)
        parent = parent_run_id
        if tracker is not None and not worker:
            fingerprint = identity.fingerprint if identity is not None else None
            parent = tracker.start(
                name, settings.n_trials, directions, objectives, resumed, fingerprint
            )
    pruning = len(directions) == 1 and not isinstance(pruner, optuna.pruners.NopPruner)
    c = counts(study)
    role = "worker" if worker else "study"
    shown_fp = f" (fingerprint {identity.fingerprint})" if identity is not None else ""
    print(
        f"{role} {name!r}{shown_fp}: {c['FINISHED']} of {settings.n_trials} trials finished"
        f"{' (resuming)' if resumed and role == 'study' else ''}",
        flush=True,
    )
    stale_lock = ask_lock(settings.storage, default_storage, name)  # the heartbeat thread's

    def check_stale() -> None:
        with stale_lock:
            fail_stale_trials(study, settings.grace_period, tracker)

    workers: list[Worker] = []
    status, shown = "FINISHED", ""
    with InterruptWatch() as watch:
        try:  # a refused submission ends the parent run FAILED, not left RUNNING
            workers = spawn_workers(parent) if spawn_workers is not None else []
            while True:
                with lock:
                    fail_stale_trials(study, settings.grace_period, tracker)
                    c = counts(study)
                    if c["FINISHED"] >= settings.n_trials:
                        break
                    trial = None
                    if c["FINISHED"] + c["RUNNING"] < settings.n_trials:
                        check_failure_rate(c, settings, name)
                        if run_trials:
                            if reseed:  # fresh draws for every ask, by any worker or rerun
                                study.sampler = sampler_for(len(study.get_trials(deepcopy=False)))
                            elif isinstance(settings.sampler, optuna.samplers.BaseSampler):
                                study.sampler.reseed_rng()  # an object: no seed to derive
                            trial = study.ask()
                            sampled = suggest(trial, space)
                            overrides = [*base_overrides, *sampled]
                            trial.set_user_attr("overrides", overrides)
                            trial.set_user_attr("worker", WORKER_ID)
                if trial is None:  # the rest are running elsewhere: wait, a dead one comes back
                    if not run_trials:
                        line = progress_line(study, settings.n_trials)
                        if line != shown:
                            print(line, flush=True)
                            shown = line
                        if workers and all(w.poll() is not None for w in workers):
                            raise SweepAborted(
                                f"all {len(workers)} workers ended with {c['FINISHED']} of "
                                f"{settings.n_trials} trials finished; see their logs"
                            )
                    time.sleep(max(0.2, min(settings.heartbeat_interval, 2.0)))
                    continue
                ctx = TrialContext(
                    trial=trial,
                    study_name=name,
                    objectives=objectives,
                    directions=directions,
                    pruning=pruning,
                    parent_run_id=parent,
                )
                t0 = time.time()
                try:
                    with (
                        Heartbeat(trial, settings.heartbeat_interval, check_stale),
                        trial_scope(ctx),
                    ):
                        result, error = run_job(overrides, ctx)
                except BaseException as exc:  # Ctrl-C or an exit: fail the trial cleanly, then stop
                    why = "SIGINT/SIGTERM" if watch.interrupted else type(exc).__name__
                    with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
                        trial.set_user_attr("fail_reason", f"interrupted: {why}")
                        retry = watch.interrupted or isinstance(exc, KeyboardInterrupt)
                        if retry:
                            # not the trial's fault: it does not count as a failure (retried),
                            # and the rerun of the same command runs its parameters first
                            trial.set_user_attr("retried", True)
                        study.tell(trial, state=TrialState.FAIL)
                        if retry:
                            study.enqueue_trial(
                                trial.params,
                                user_attrs={"retry_of": trial.number},
                                skip_if_exists=False,
                            )
                    raise
                if study._storage.get_trial(trial._trial_id).state.is_finished():
                    # another worker took it for stale (a pause longer than grace_period: a
                    # suspended laptop, a stalled file system) and queued it again
                    log.warning(
                        "trial %d was failed as stale by another worker while it ran here "
                        "(a pause longer than grace_period=%s s?); its retry counts instead",
                        trial.number,
                        settings.grace_period,
                    )
                    continue
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
                except optuna.exceptions.UpdateFinishedTrialError:
                    log.warning(
                        "trial %d was failed as stale by another process as it ended here; "
                        "its retry counts instead",
                        trial.number,
                    )
                    continue
                except RuntimeError as exc:
                    if "Study.stop" not in str(exc):
                        raise
                    exhausted = True  # grid samplers stop the study once every point is visited
                print(progress_line(study, settings.n_trials, trial.number, out), flush=True)
                if exhausted:
                    print("the sampler has no candidates left: stopping", flush=True)
                    break
            if not run_trials:
                print(progress_line(study, settings.n_trials), flush=True)
            for proc in workers:
                proc.wait()
            if workers:  # a worker that could not start is an error, not a slower sweep
                check_workers(study, workers)
        except BaseException as exc:
            status = (
                "KILLED" if watch.interrupted or isinstance(exc, KeyboardInterrupt) else "FAILED"
            )
            raise
        finally:
            for proc in workers:
                if proc.poll() is None:
                    proc.terminate()
            if tracker is not None and not worker:
                tracker.finish(
                    study_summary(study, objectives), study_figures(study, objectives), status
                )
    return study
