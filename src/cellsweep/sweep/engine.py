"""The sweep loop: ask a trial, compose its config, run the job with the live trial, tell.

Trials run one after another in this process (each with a live ``optuna.Trial``, so the job can
prune); more processes on the same storage pull trials concurrently. The study ends when
``n_trials`` trials have finished (complete, pruned or failed) in total, across runs: the same
command resumes. A job that raises, or returns NaN or inf, fails its trial, and the sweep goes on
while the failed fraction stays within ``max_failure_rate``.

One part per job: ``open_sweep`` (study, storage, identity), ``start_parent_run`` (the
MLflow parent run, opened while the spawned workers start), ``ask_next`` (count
and ask under the lock), ``run_trial`` (the job with its heartbeat), ``record.record_outcome``
(tell the study), and the watching parts in ``study/heartbeat.py`` and ``workers/watch.py``.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from cellsweep.errors import ConfigError
from cellsweep.sweep.api import TrialContext, trial_scope
from cellsweep.sweep.report import figure_process
from cellsweep.sweep.report.summary import study_figures, study_summary
from cellsweep.sweep.settings import SweepSettings, objective_names
from cellsweep.sweep.space.grammar import SearchSpace, suggest
from cellsweep.sweep.study import attrs, record
from cellsweep.sweep.study.heartbeat import WORKER_ID, Heartbeat, fail_stale_trials
from cellsweep.sweep.study.identity import StudyIdentity
from cellsweep.sweep.study.record import TrialOutcome, counts, outcome_of, progress_line
from cellsweep.sweep.study.storage import (
    MEMORY,
    ask_lock,
    make_pruner,
    make_sampler,
    make_storage,
    normalize_directions,
    open_study,
    seeded,
)
from cellsweep.sweep.tracker import FINISHED, StudyTracker
from cellsweep.sweep.workers.watch import (
    InterruptWatch,
    Worker,
    check_alive,
    check_workers,
    stop_workers,
)
from cellsweep.threads import given_cores

# what callers and tests import from the engine, wherever it now lives
__all__ = [
    "WORKER_ID",
    "InterruptWatch",
    "RunJob",
    "SweepSettings",
    "TrialOutcome",
    "Worker",
    "fail_stale_trials",
    "outcome_of",
    "run_study",
]
log = logging.getLogger("cellsweep.sweep")
RunJob = Callable[[list[str], TrialContext], tuple[Any, BaseException | None]]


# The study's MLflow parent run, opened while the workers start rather than before them.
#
# A launch's workers are started first, with a launch key; the launching process then opens (or,
# on resume, reopens) the parent run under the study's lock and publishes its id in the study,
# under that key. A worker's trials need the id only when their child runs open, by which time a
# worker's start-up (seconds of imports) has almost always outlasted the run's creation, so the
# two overlap instead of adding up (issue 14: workers that start at once).
WAIT_S = 300.0  # a worker gives up on a parent run that never appears (its launcher died)


def new_launch() -> str:
    """A key for this command's launch: its workers find the parent run under it."""
    return uuid.uuid4().hex[:12]


def start_parent_run(
    study: optuna.Study,
    lock: object,
    tracker: StudyTracker,
    n_trials: int,
    directions: list[str],
    objectives: list[str],
    resumed: bool,
    identity: StudyIdentity | None,
    launch: str | None,
    sweep_dir: str | None = None,
) -> str:
    """Open the parent run under the study's lock (processes launched together, or launched
    separately on one PostgreSQL, make one run), then publish its id for ``launch``'s workers."""
    fingerprint = identity.fingerprint if identity is not None else None
    with lock:  # type: ignore[attr-defined]
        run_id = tracker.start(
            str(study.study_name),
            n_trials,
            directions,
            objectives,
            resumed,
            fingerprint,
            sweep_dir=sweep_dir,
        )
        if launch:
            study.set_user_attr(attrs.parent_run_key(launch), run_id)
    return run_id


def wait_parent_run(study: optuna.Study, launch: str, timeout: float = WAIT_S) -> str:
    """The parent run's id as the launching process published it, waiting while it is opened."""
    key, deadline = attrs.parent_run_key(launch), time.monotonic() + timeout
    while True:
        run_id = study.user_attrs.get(key)
        if run_id:
            return str(run_id)
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the study's MLflow parent run did not appear within {timeout:.0f} s "
                "(did the command that started this worker end?)"
            )
        time.sleep(0.2)


@dataclass
class Sweep:
    """One process's open study and what every part of the loop needs of it."""

    settings: SweepSettings
    study: optuna.Study
    directions: list[str]
    objectives: list[str]
    pruning: bool
    parent: str | None
    lock: Any  # count-then-ask is atomic across the study's processes (study.ask_lock)
    stale_lock: Any  # the heartbeat thread's own, so it never waits on this thread's
    asker: str
    tracker: StudyTracker | None = None
    resumed: bool = False
    launch: str | None = None  # a spawned worker's launch key: the parent run is found by it

    def parent_run(self) -> str | None:
        """The MLflow parent run's id: known where it was opened; a worker started with the
        command reads it from the study once its launcher has published it."""
        if self.parent is None and self.launch:
            self.parent = wait_parent_run(self.study, self.launch)
        return self.parent

    def sampler_for(self, n_existing: int) -> optuna.samplers.BaseSampler:
        """The sampler for the ask after ``n_existing`` trials: fresh draws for every ask."""
        return make_sampler(self.settings.sampler, self.settings.seed, n_existing, self.asker)

    def fail_stale(self) -> None:
        """The heartbeat thread's check, under its own lock."""
        with self.stale_lock:
            fail_stale_trials(self.study, self.settings.grace_period, self.tracker)


def _label_objectives(study: optuna.Study, objectives: list[str]) -> None:
    """Record the metric of each direction, for `cellsweep best` and optuna-dashboard's axes."""
    if study.user_attrs.get(attrs.OBJECTIVES) != objectives:
        study.set_user_attr(attrs.OBJECTIVES, objectives)
    if study.metric_names != objectives:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(objectives)


def open_sweep(
    settings: SweepSettings,
    default_objective: str | None,
    default_storage: Path,
    tracker: StudyTracker | None,
    launch: str | None,
    identity: StudyIdentity | None,
    worker: bool,
) -> Sweep:
    """Check what can be checked, then create or resume the study, once, under the ask lock
    (workers launched together create one schema and one study)."""
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
    first = make_sampler(settings.sampler, settings.seed, 0, asker)
    with lock:
        storage = make_storage(settings.storage, default_storage)
        study, resumed = open_study(storage, name, directions, first, pruner, identity)
        _label_objectives(study, objectives)
    pruning = len(directions) == 1 and not isinstance(pruner, optuna.pruners.NopPruner)
    stale_lock = ask_lock(settings.storage, default_storage, name)
    sweep = Sweep(
        settings, study, directions, objectives, pruning, None, lock, stale_lock, asker, tracker,
        resumed=resumed, launch=launch if worker else None,
    )  # fmt: skip
    _announce(sweep, resumed, worker, identity)
    return sweep


def _announce(sweep: Sweep, resumed: bool, worker: bool, identity: StudyIdentity | None) -> None:
    """One line: which study, and how far it is (a resume says so)."""
    c, name = counts(sweep.study), sweep.settings.study_name
    role = "worker" if worker else "study"
    shown_fp = f" (fingerprint {identity.fingerprint})" if identity is not None else ""
    print(
        f"{role} {name!r}{shown_fp}: {c['FINISHED']} of {sweep.settings.n_trials} trials finished"
        f"{' (resuming)' if resumed and role == 'study' else ''}",
        flush=True,
    )


DONE = "done"  # ask_next: the study holds n_trials finished trials


def ask_next(
    sweep: Sweep, space: SearchSpace, base_overrides: list[str], run_trials: bool
) -> tuple[Any, list[str], dict[str, int]]:
    """Under the lock: fail stale trials, count, and ask the next trial when one is due.

    Returns (``DONE``, [], counts), (None, [], counts) when the rest are running elsewhere (or
    this process only watches), or (the trial, its overrides, counts).
    """
    settings, study = sweep.settings, sweep.study
    with sweep.lock:
        fail_stale_trials(study, settings.grace_period, sweep.tracker)
        c = counts(study)
        if c["FINISHED"] >= settings.n_trials:
            return DONE, [], c
        if c["FINISHED"] + c["RUNNING"] >= settings.n_trials:
            return None, [], c
        record.check_failure_rate(c, settings.max_failure_rate, str(settings.study_name))
        if not run_trials:
            return None, [], c
        if seeded(settings.sampler, settings.seed):  # fresh draws by any worker or rerun
            study.sampler = sweep.sampler_for(len(study.get_trials(deepcopy=False)))
        elif isinstance(settings.sampler, optuna.samplers.BaseSampler):
            study.sampler.reseed_rng()  # an object: no seed to derive
        trial = study.ask()
        overrides = [*base_overrides, *suggest(trial, space)]
        trial.set_user_attr(attrs.OVERRIDES, overrides)
        trial.set_user_attr(attrs.WORKER, WORKER_ID)
        return trial, overrides, c


def run_trial(
    sweep: Sweep, trial: optuna.Trial, overrides: list[str], run_job: RunJob, watch: InterruptWatch
) -> tuple[Any, BaseException | None]:
    """The job with the live trial and its heartbeat; Ctrl-C or an exit fails the trial
    cleanly (retried when it was not the trial's fault), then stops the sweep."""
    ctx = TrialContext(
        trial=trial,
        study_name=str(sweep.settings.study_name),
        objectives=sweep.objectives,
        directions=sweep.directions,
        pruning=sweep.pruning,
        parent_run_id=sweep.parent_run(),
    )
    try:
        with (
            Heartbeat(trial, sweep.settings.heartbeat_interval, sweep.fail_stale),
            trial_scope(ctx),
        ):
            return run_job(overrides, ctx)
    except BaseException as exc:
        record.fail_interrupted(sweep.study, trial, exc, watch.interrupted)
        raise


def wait_line(
    sweep: Sweep, shown: str, run_trials: bool, workers: list[Worker], c: dict[str, int]
) -> str:
    """Nothing to ask here: a watching parent shows progress and notices dead workers."""
    if not run_trials:
        line = progress_line(sweep.study, sweep.settings.n_trials)
        if line != shown:
            print(line, flush=True)
            shown = line
        check_alive(workers, c["FINISHED"], sweep.settings.n_trials)
    time.sleep(max(0.2, min(sweep.settings.heartbeat_interval, 2.0)))
    return shown


def trial_loop(
    sweep: Sweep,
    space: SearchSpace,
    base_overrides: list[str],
    run_job: RunJob,
    workers: list[Worker],
    run_trials: bool,
    watch: InterruptWatch,
) -> None:
    """Ask, run and record until the study is done (or a grid sampler runs out of points)."""
    shown, n_trials = "", sweep.settings.n_trials
    while True:
        trial, overrides, c = ask_next(sweep, space, base_overrides, run_trials)
        if trial is DONE:
            return
        if trial is None:  # the rest are running elsewhere: wait, a dead one comes back
            shown = wait_line(sweep, shown, run_trials, workers, c)
            continue
        t0 = time.time()
        result, error = run_trial(sweep, trial, overrides, run_job, watch)
        if record.taken_elsewhere(sweep.study, trial):
            # another worker took it for stale (a pause longer than grace_period: a
            # suspended laptop, a stalled file system) and queued it again
            log.warning(
                "trial %d was failed as stale by another worker while it ran here "
                "(a pause longer than grace_period=%s s?); its retry counts instead",
                trial.number,
                sweep.settings.grace_period,
            )
            continue
        out = outcome_of(result, error, sweep.objectives)
        told = record.record_outcome(sweep.study, trial, out, t0)
        if told == "stale":
            continue
        print(progress_line(sweep.study, n_trials, trial.number, out), flush=True)
        if told == "exhausted":
            print("the sampler has no candidates left: stopping", flush=True)
            return


def _start(
    sweep: Sweep,
    tracker: StudyTracker | None,
    spawn_workers: Callable[[str | None], list[Worker]] | None,
    workers: list[Worker],
    identity: StudyIdentity | None,
    worker: bool,
    sweep_dir: str | None = None,
) -> None:
    """Spawn the workers, then open the parent run while they import (``workers`` is filled in
    place, so the caller stops them whatever fails next). The run is opened even when the
    spawn fails, so that a refused submission ends it FAILED rather than leaving none."""
    opens = tracker is not None and not worker
    launch = new_launch() if opens else None
    try:
        if spawn_workers is not None:
            workers.extend(spawn_workers(launch))
    finally:
        if opens:
            sweep.parent = start_parent_run(
                sweep.study,
                sweep.lock,
                tracker,
                sweep.settings.n_trials,
                sweep.directions,
                sweep.objectives,
                sweep.resumed,
                identity,
                launch,
                sweep_dir,
            )


def run_study(
    settings: SweepSettings,
    space: SearchSpace,
    base_overrides: list[str],
    default_objective: str | None,
    default_storage: Path,
    run_job: RunJob,
    tracker: StudyTracker | None = None,
    spawn_workers: Callable[[str | None], list[Worker]] | None = None,
    launch: str | None = None,
    run_trials: bool = True,
    identity: StudyIdentity | None = None,
    worker: bool = False,
    sweep_dir: str | None = None,
) -> optuna.Study:
    """Run trials until the study holds ``n_trials`` finished ones; returns the study.

    The main process creates the study, ``spawn_workers`` starts the extra worker processes
    with a launch key, and the main process opens the MLflow parent run while they start (they
    find its id in the study under that key, ``launch``); every process pulls trials until
    the total is reached. Counting and asking happen under the storage's lock (a lock file, or
    a PostgreSQL advisory lock across hosts), so workers never overshoot ``n_trials``; a worker
    with nothing left to ask waits for the others' running trials. With ``run_trials=False``
    (workers on a cluster) this process only watches: it shows progress, fails stale trials,
    and stops when the study is done or every worker has ended. A ``worker`` (a process this
    one spawned) uses ``tracker`` only to fail the MLflow runs of stale trials; the parent run
    is this process's. ``identity`` is checked against the stored study's before anything is
    written. ``sweep_dir``, this launch's folder, is recorded on the parent run.
    """
    sweep = open_sweep(
        settings, default_objective, default_storage, tracker, launch, identity, worker
    )
    workers: list[Worker] = []
    status = FINISHED
    figures = None
    with InterruptWatch() as watch:
        try:
            if tracker is not None and not worker and _spare_core(settings, run_trials):
                figures = figure_process.start()  # imports the plots' stack meanwhile
            _start(sweep, tracker, spawn_workers, workers, identity, worker, sweep_dir)
            trial_loop(sweep, space, base_overrides, run_job, workers, run_trials, watch)
            if not run_trials:
                print(progress_line(sweep.study, settings.n_trials), flush=True)
            for proc in workers:
                proc.wait()
            if workers:  # a worker that could not start is an error, not a slower sweep
                check_workers(sweep.study, workers)
        except BaseException as exc:
            status = watch.end_status(exc)
            raise
        finally:
            stop_workers(workers)
            if tracker is not None and not worker:
                _finish(sweep, tracker, figures, default_storage, status)
    return sweep.study


def _spare_core(settings: SweepSettings, run_trials: bool) -> bool:
    """Whether the figure process gets a core of its own: this process only watches cluster
    workers, or its local workers leave one free. Otherwise it would slow the workers by as
    much as it saves at the end (worker_scaling), and the plots are drawn here at the end.
    A ``memory`` study cannot be read by another process."""
    if settings.storage == MEMORY:
        return False
    return not run_trials or settings.n_workers < given_cores()


def _finish(
    sweep: Sweep,
    tracker: StudyTracker,
    figures: figure_process.FigureProcess | None,
    default_storage: Path,
    status: str,
) -> None:
    """Close the parent run with the summary and the plots: drawn by the figure process where
    it stands ready, here otherwise (report/summary.py imports matplotlib only then, never on a
    worker's start-up path)."""
    summary = study_summary(sweep.study, sweep.objectives)
    with tempfile.TemporaryDirectory(prefix="cellsweep-figures-") as tmp:
        drawn = None
        if figures is not None:
            drawn = figures.draw(
                sweep.settings.storage,
                default_storage,
                sweep.settings.study_name,
                sweep.objectives,
                Path(tmp),
            )
        if drawn is None:
            drawn = study_figures(sweep.study, sweep.objectives)
        tracker.finish(summary, drawn, status)
