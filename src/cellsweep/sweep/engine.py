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
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from cellsweep.errors import ConfigError
from cellsweep.paths import project_root
from cellsweep.redact import redact_uri
from cellsweep.sweep.api import TrialContext, rerun_overrides, trial_scope
from cellsweep.sweep.report import figure_process
from cellsweep.sweep.report.results import FILE as RESULTS_FILE
from cellsweep.sweep.report.results import write_results
from cellsweep.sweep.report.summary import study_figures, study_params, study_summary
from cellsweep.sweep.settings import SweepSettings, objective_names
from cellsweep.sweep.space.grammar import SearchSpace, suggest
from cellsweep.sweep.study import attrs, record, resume
from cellsweep.sweep.study.heartbeat import Heartbeat, fail_elsewhere, fail_stale_trials
from cellsweep.sweep.study.identity import StudyIdentity
from cellsweep.sweep.study.record import counts, outcome_of, progress_line
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
from cellsweep.sweep.tracker import NULL_TRACKER, StudyTracker
from cellsweep.sweep.workers.watch import (
    InterruptWatch,
    Worker,
    check_alive,
    check_workers,
    ended_workers_trials,
    settle_workers,
    stop_workers,
)
from cellsweep.threads import given_cores
from cellsweep.vocabulary import FINISHED

log = logging.getLogger("cellsweep.sweep")
RunJob = Callable[[list[str], TrialContext], tuple[Any, BaseException | None]]
#: starts the study's other workers for a launch key; returns them (none: ``no_workers``)
Spawner = Callable[[str | None], list[Worker]]


def no_workers(launch: str | None) -> list[Worker]:
    """The spawner of a study run by this process alone."""
    return []


@dataclass
class Sweep:
    """What a study is and how its trials run: the same in every process of the study."""

    settings: SweepSettings
    space: SearchSpace
    run_job: RunJob
    default_storage: Path  # the journal file when ``settings.storage`` names none
    base_overrides: list[str] = field(default_factory=list)  # every trial's fixed overrides
    default_objective: str | None = None  # the app's own ``objective``, if it names one
    identity: StudyIdentity | None = None  # checked against the stored study's before writing
    tracker: StudyTracker = NULL_TRACKER
    spawn: Spawner = no_workers
    #: what a process's first trial would otherwise pay after it was asked (imports, a store's
    #: client): done before the first ask, so no trial waits on a process getting ready
    warm_up: Callable[[], None] = lambda: None
    sweep_dir: str | None = None  # this launch's folder: trials' folders and the results


@dataclass(frozen=True)
class Role:
    """What this process does for the study.

    The process a user starts *leads*: it opens the parent run, spawns the other workers and
    closes the run at the end. It runs trials itself, or only watches when its workers are
    cluster jobs. A spawned *worker* runs trials, and uses the tracker only to fail the runs of
    stale trials; it finds the parent run in the study under its launch key.
    """

    name: str
    runs_trials: bool = True
    leads: bool = True
    launch: str | None = None

    @staticmethod
    def worker(launch: str | None) -> Role:
        """A process the lead spawned (or submitted) for its launch ``launch``."""
        return Role("worker", runs_trials=True, leads=False, launch=launch or None)


LEAD = Role("study")
WATCHER = Role("study", runs_trials=False)  # leads a study whose workers are cluster jobs


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


def start_parent_run(live: LiveStudy, launch: str | None) -> str:
    """Open the parent run under the study's lock (processes launched together, or launched
    separately on one PostgreSQL, make one run), then publish its id for ``launch``'s workers."""
    sweep, study = live.sweep, live.study
    identity = sweep.identity
    fingerprint = identity.fingerprint if identity is not None else None
    storage = sweep.settings.storage or str(sweep.default_storage)
    params = study_params(
        sweep.settings, sweep.space.distributions, live.objectives, live.directions, storage
    )
    with live.lock:
        run_id = sweep.tracker.start(
            str(study.study_name),
            sweep.settings.n_trials,
            live.directions,
            live.objectives,
            live.resumed,
            fingerprint,
            sweep_dir=sweep.sweep_dir,
            params=params,
        )
        if launch:
            study.set_user_attr(attrs.parent_run_key(launch), run_id)
            started = time.time() - (time.monotonic() - live.since[0])
            study.set_user_attr(attrs.launch_clock_key(launch), [started, live.since[1]])
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
class LiveStudy:
    """One process's open study and what every part of the loop needs of it."""

    sweep: Sweep
    role: Role
    study: optuna.Study
    directions: list[str]
    objectives: list[str]
    pruning: bool
    lock: Any  # count-then-ask is atomic across the study's processes (study.ask_lock)
    stale_lock: Any  # the heartbeat thread's own, so it never waits on this thread's
    asker: str
    resumed: bool = False
    parent: str | None = None
    since: tuple[float, int] = (0.0, 0)  # when this launch opened it, and the trials done then

    @property
    def settings(self) -> SweepSettings:
        return self.sweep.settings

    def parent_run(self) -> str | None:
        """The MLflow parent run's id: known where it was opened; a worker started with the
        command reads it from the study once its launcher has published it."""
        if self.parent is None and self.role.launch:
            self.parent = wait_parent_run(self.study, self.role.launch)
            self._launch_clock(self.role.launch)
        return self.parent

    def _launch_clock(self, launch: str) -> None:
        """A worker's progress lines count from its launch, not from its own start (published
        with the parent run; a lead of an older version published none: own start then)."""
        clock = self.study.user_attrs.get(attrs.launch_clock_key(launch))
        if clock:
            started, done = clock
            self.since = (time.monotonic() - (time.time() - float(started)), int(done))

    def sampler_for(self, n_existing: int) -> optuna.samplers.BaseSampler:
        """The sampler for the ask after ``n_existing`` trials: fresh draws for every ask."""
        return make_sampler(self.settings.sampler, self.settings.seed, n_existing, self.asker)

    def fail_stale(self) -> None:
        """The heartbeat thread's check, under its own lock."""
        with self.stale_lock:
            fail_stale_trials(self.study, self.settings.grace_period, self.sweep.tracker)


def _label_objectives(study: optuna.Study, objectives: list[str]) -> None:
    """Record the metric of each direction, for `cellsweep best` and optuna-dashboard's axes."""
    if study.user_attrs.get(attrs.OBJECTIVES) != objectives:
        study.set_user_attr(attrs.OBJECTIVES, objectives)
    if study.metric_names != objectives:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(objectives)


def open_sweep(sweep: Sweep, role: Role) -> LiveStudy:
    """Check what can be checked, then create or resume the study, once, under the ask lock
    (workers launched together create one schema and one study)."""
    settings, default_storage = sweep.settings, sweep.default_storage
    directions = normalize_directions(settings.direction)
    objectives = objective_names(settings.objective, sweep.default_objective, len(directions))
    name = settings.study_name
    if not name:
        raise ConfigError("hydra.sweeper.study_name is empty")
    make_sampler(settings.sampler, settings.seed)  # a bad sampler is exit 2, before writing
    pruner = make_pruner(settings.pruner)
    lock = ask_lock(settings.storage, default_storage, name)
    # asks without a lock (SQLite, MySQL) may count the same trials: tell the processes apart
    asker = "" if not isinstance(lock, contextlib.nullcontext) else attrs.worker_id()
    first = make_sampler(settings.sampler, settings.seed, 0, asker)
    with lock:
        storage = make_storage(settings.storage, default_storage)
        study, resumed = open_study(storage, name, directions, first, pruner, sweep.identity)
        _label_objectives(study, objectives)
    live = LiveStudy(
        sweep=sweep,
        role=role,
        study=study,
        directions=directions,
        objectives=objectives,
        pruning=len(directions) == 1 and not isinstance(pruner, optuna.pruners.NopPruner),
        lock=lock,
        stale_lock=ask_lock(settings.storage, default_storage, name),
        asker=asker,
        resumed=resumed,
    )
    live.since = (time.monotonic(), counts(study)["done"])
    _announce(live)
    return live


def _announce(live: LiveStudy) -> None:
    """One line: which study, and how far it is (a resume says so)."""
    c, name, identity = counts(live.study), live.settings.study_name, live.sweep.identity
    shown_fp = f" (fingerprint {identity.fingerprint})" if identity is not None else ""
    resuming = " (resuming)" if live.resumed and live.role.leads else ""
    print(
        f"{live.role.name} {name!r}{shown_fp}: {c['done']} of {live.settings.n_trials} "
        f"trials finished{resuming}",
        flush=True,
    )


DONE = "done"  # ask_next: the study holds n_trials finished trials


def ask_next(live: LiveStudy) -> tuple[Any, list[str], dict[str, int]]:
    """Under the lock: fail stale trials, count, and ask the next trial when one is due.

    Returns (``DONE``, [], counts), (None, [], counts) when the rest are running elsewhere (or
    this process only watches), or (the trial, its overrides, counts).
    """
    settings, study = live.settings, live.study
    with live.lock:
        fail_stale_trials(study, settings.grace_period, live.sweep.tracker)
        c = counts(study)
        if c["done"] >= settings.n_trials:
            return DONE, [], c
        if c["done"] + c["RUNNING"] >= settings.n_trials:
            return None, [], c
        record.check_failure_rate(c, settings.max_failure_rate, str(settings.study_name))
        if not live.role.runs_trials:
            return None, [], c
        if seeded(settings.sampler, settings.seed):  # fresh draws by any worker or rerun
            study.sampler = live.sampler_for(len(study.get_trials(deepcopy=False)))
        elif isinstance(settings.sampler, optuna.samplers.BaseSampler):
            study.sampler.reseed_rng()  # an object: no seed to derive
        trial = study.ask()
        overrides = [*live.sweep.base_overrides, *suggest(trial, live.sweep.space)]
        trial.set_user_attr(attrs.OVERRIDES, overrides)
        trial.set_user_attr(attrs.WORKER, attrs.worker_id())
        if job := attrs.cluster_job():
            trial.set_user_attr(attrs.JOB, job)
        return trial, overrides, c


def run_trial(
    live: LiveStudy, trial: optuna.Trial, overrides: list[str], watch: InterruptWatch
) -> tuple[Any, BaseException | None]:
    """The job with the live trial and its heartbeat; Ctrl-C or an exit fails the trial
    cleanly (retried, from its checkpoint, when it was not the trial's fault), then stops the
    sweep. A retry that carries a checkpoint resumes from it (study/resume.py)."""
    settings = live.settings
    resumed = resume.prepare(live.study, trial)
    folder = Path(live.sweep.sweep_dir) / str(trial.number) if live.sweep.sweep_dir else None
    ctx = TrialContext(
        trial=trial,
        study_name=str(settings.study_name),
        objectives=live.objectives,
        directions=live.directions,
        pruning=live.pruning,
        parent_run_id=live.parent_run(),
        rerun=rerun_overrides(overrides),
        checkpoint_path=str(
            resume.checkpoint_file(
                folder or live.sweep.default_storage.parent, str(settings.study_name), trial.number
            )
        ),
        checkpoint_every=float(settings.checkpoint_every),
        resume_from=resumed.path,
        resume_epoch=resumed.epoch,
        resume_run_id=resumed.run_id,
    )
    try:
        with (
            Heartbeat(trial, live.settings.heartbeat_interval, live.fail_stale),
            trial_scope(ctx),
        ):
            return live.sweep.run_job(overrides, ctx)
    except BaseException as exc:
        reason = record.fail_interrupted(live.study, trial, exc, watch.signal)
        run_id = trial.user_attrs.get(attrs.RUN_ID)
        if run_id:  # the run says what the study says (not Lightning's "SystemExit: 1")
            live.sweep.tracker.fail_run(str(run_id), reason)
        raise


def wait_line(live: LiveStudy, shown: str, workers: list[Worker], c: dict[str, int]) -> str:
    """Nothing to ask here: a watching lead shows progress and notices dead workers."""
    fail_ended_workers_trials(live, workers)
    if not live.role.runs_trials:
        line = progress_line(live.study, live.settings.n_trials)
        if line != shown:
            shown = line
            line = progress_line(live.study, live.settings.n_trials, since=live.since)
            print(line, flush=True)
            live.sweep.tracker.progress(page_summary(live))
        check_alive(workers, c["done"], live.settings.n_trials)
    time.sleep(max(0.2, min(live.settings.heartbeat_interval, 2.0)))
    return shown


def fail_ended_workers_trials(live: LiveStudy, workers: list[Worker]) -> None:
    """Fail (and queue again, with their checkpoints) the RUNNING trials of this launch's
    workers that have ended: a Slurm task at its time limit with no requeue left, a killed
    process. Done at once, not after ``grace_period``, and before this command exits."""
    for t in ended_workers_trials(live.study, workers):
        reason = "interrupted: its worker ended (time limit, requeue or kill)"
        if fail_elsewhere(live.study, t, reason, live.sweep.tracker):
            log.warning("trial %d: %s; queued again", t.number, reason)


def trial_loop(live: LiveStudy, workers: list[Worker], watch: InterruptWatch) -> None:
    """Ask, run and record until the study is done (or a grid sampler runs out of points)."""
    shown, n_trials = "", live.settings.n_trials
    while True:
        trial, overrides, c = ask_next(live)
        if trial is DONE:
            return
        if trial is None:  # the rest are running elsewhere: wait, a dead one comes back
            shown = wait_line(live, shown, workers, c)
            continue
        t0 = time.time()
        result, error = run_trial(live, trial, overrides, watch)
        if record.taken_elsewhere(live.study, trial):
            # another worker took it for stale (a pause longer than grace_period: a
            # suspended laptop, a stalled file system) and queued it again
            log.warning(
                "trial %d was failed as stale by another worker while it ran here "
                "(a pause longer than grace_period=%s s?); its retry counts instead",
                trial.number,
                live.settings.grace_period,
            )
            continue
        out = outcome_of(result, error, live.objectives)
        told = record.record_outcome(live.study, trial, out, t0)
        if told == "stale":
            continue
        resume.remove_checkpoints(trial)  # it ended for good: no retry will need them
        print(progress_line(live.study, n_trials, trial.number, out, live.since), flush=True)
        if live.role.leads:  # the study's page follows (the tracker keeps the writes cheap)
            live.sweep.tracker.progress(page_summary(live))
        if told == "exhausted":
            print("the sampler has no candidates left: stopping", flush=True)
            return


def _start(live: LiveStudy, workers: list[Worker]) -> str | None:
    """Spawn the workers, then open the parent run while they import (``workers`` is filled in
    place, so the caller stops them whatever fails next). The run is opened even when the
    spawn fails, so that a refused submission ends it FAILED rather than leaving none. A study
    that is already complete spawns nobody: its run is reopened only to be closed again, with
    its summary (the command that follows a launcher's death closes what it left RUNNING)."""
    launch = new_launch() if live.sweep.tracker.records else None
    try:
        if counts(live.study)["done"] < live.settings.n_trials:
            workers.extend(live.sweep.spawn(launch))
    finally:
        if launch is not None:
            live.parent = start_parent_run(live, launch)
    return launch


# The launcher's liveness, for its workers.
#
# The launching process closes the parent run and writes optimization_results.yaml when the
# study is done. If it dies (kill -9, a lost login node), its workers finish the study without
# it; the last of them must then close what it would have. The launcher stamps the study every
# heartbeat interval (``attrs.lead_key``) and marks itself ``closing`` once its loop has
# ended; a worker that is done waits for that mark, and closes the run itself only when the
# stamps stopped for ``grace_period``: no run is left RUNNING, and none is closed twice.
class LeadBeat:
    """Stamps ``{"beat": time, "closing": bool}`` on the study from a daemon thread."""

    def __init__(self, study: optuna.Study, launch: str, interval: float) -> None:
        self.study, self.key, self.interval = study, attrs.lead_key(launch), interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _stamp(self, closing: bool = False) -> None:
        self.study.set_user_attr(self.key, {"beat": time.time(), "closing": closing})

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(Exception):  # a missed stamp: the next one follows
                self._stamp()

    def start(self) -> LeadBeat:
        """The first stamp now, the next every ``interval`` seconds."""
        self._stamp()
        self._thread.start()
        return self

    def closing(self) -> None:
        """The launcher closes the study itself from here on: its workers need not."""
        self._stop.set()
        self._thread.join(timeout=max(5.0, 2 * self.interval))
        with contextlib.suppress(Exception):
            self._stamp(closing=True)


def _launcher_gone(live: LiveStudy) -> bool:
    """After the study is done, on a worker: whether its launcher died and left the parent run
    to it. Waits for the launcher's ``closing`` mark (its loop ends within seconds of the
    study's) or for its stamps to be older than ``grace_period``; one worker wins, under the
    ask lock, by marking the run closed."""
    if not live.role.launch:
        return False
    key, settings = attrs.lead_key(live.role.launch), live.settings
    deadline = time.monotonic() + settings.grace_period + 2 * settings.heartbeat_interval
    while time.monotonic() < deadline:
        mark = live.study.user_attrs.get(key)
        if not isinstance(mark, dict) or mark.get("closing"):
            return False
        if time.time() - float(mark.get("beat", 0.0)) > settings.grace_period:
            with live.lock:
                mark = live.study.user_attrs.get(key)
                if not isinstance(mark, dict) or mark.get("closing"):
                    return False
                live.study.set_user_attr(key, {**mark, "closing": True, "by": attrs.worker_id()})
            return True
        time.sleep(min(1.0, settings.heartbeat_interval))
    return False


def _close_for_launcher(live: LiveStudy) -> None:
    """Close the parent run (FINISHED, with the summary and plots) and write the results, as
    the launcher that died would have."""
    sweep = live.sweep
    run_id = live.parent_run()
    if not run_id:
        return
    sweep.tracker.take_over(run_id)
    _finish(live, figure_process.NO_FIGURE_PROCESS, FINISHED)
    if sweep.sweep_dir:
        write_results(live.study, sweep.sweep_dir)
    print(
        "the launching process is gone: this worker closed the study's MLflow run"
        + (f" and wrote {Path(sweep.sweep_dir) / RESULTS_FILE}" if sweep.sweep_dir else ""),
        flush=True,
    )


def run_study(sweep: Sweep, role: Role = LEAD) -> optuna.Study:
    """Run trials until the study holds ``n_trials`` finished ones; returns the study.

    The lead creates the study, ``sweep.spawn`` starts the other workers with a launch key,
    and the lead opens the MLflow parent run while they start (they find its id in the study
    under that key); every process pulls trials until the total is reached. Counting and
    asking happen under the storage's lock (a lock file, or a PostgreSQL advisory lock across
    hosts), so workers never overshoot ``n_trials``; a worker with nothing left to ask waits
    for the others' running trials. A lead that runs no trials (workers on a cluster) only
    watches: it shows progress, fails stale trials, and stops when the study is done or every
    worker has ended.
    The lead records this launch's folder (``sweep.sweep_dir``) on the parent run.
    """
    live = open_sweep(sweep, role)
    if not role.leads:
        with InterruptWatch() as watch:
            live.parent_run()  # waits for the lead to publish it, before a trial is asked
            sweep.warm_up()
            trial_loop(live, [], watch)
        done = counts(live.study)["done"] >= sweep.settings.n_trials
        if done and sweep.tracker.records and _launcher_gone(live):
            _close_for_launcher(live)
        return live.study
    workers: list[Worker] = []
    status = FINISHED
    figures = figure_process.NO_FIGURE_PROCESS
    beat: LeadBeat | None = None
    with InterruptWatch() as watch:
        try:
            if sweep.tracker.records and _spare_core(sweep.settings, role.runs_trials):
                figures = figure_process.start()  # imports the plots' stack meanwhile
            launch = _start(live, workers)
            if launch and workers:  # its workers close the study if this process dies
                beat = LeadBeat(live.study, launch, sweep.settings.heartbeat_interval).start()
            if role.runs_trials:
                sweep.warm_up()
            trial_loop(live, workers, watch)
            if beat is not None:
                beat.closing()
            if not role.runs_trials:
                last = progress_line(live.study, sweep.settings.n_trials, since=live.since)
                print(last, flush=True)
            settle_workers(workers, sweep.settings.grace_period)
            if workers:  # a worker that could not start is an error, not a slower sweep
                check_workers(live.study, workers)
        except BaseException as exc:
            status = watch.end_status(exc)
            raise
        finally:
            if beat is not None:
                beat.closing()
            fail_ended_workers_trials(live, workers)
            stop_workers(workers)
            if sweep.tracker.records:
                _finish(live, figures, status)
    return live.study


def adopt_command(live: LiveStudy) -> list[str]:
    """The command that adopts the study's best trial (``--storage`` unless it is the one
    `cellsweep adopt` reads by default, sweeps/optuna.journal of the project). It is written
    into the study's page and summary: a database URL's password is masked (DESIGN.md §6)."""
    command = ["cellsweep", "adopt", str(live.settings.study_name)]
    storage = live.settings.storage or str(live.sweep.default_storage)
    if "://" in storage:
        command += ["--storage", redact_uri(storage)]
    elif Path(storage).absolute() != project_root() / "sweeps" / "optuna.journal":
        command += ["--storage", storage]
    return command


def page_summary(live: LiveStudy) -> dict[str, Any]:
    """The study's summary as its page shows it: with the command that adopts its best."""
    return {**study_summary(live.study, live.objectives), "adopt": adopt_command(live)}


def _spare_core(settings: SweepSettings, runs_trials: bool) -> bool:
    """Whether the figure process gets a core of its own: this process only watches cluster
    workers, or its local workers leave one free. Otherwise it would slow the workers by as
    much as it saves at the end (worker_scaling), and the plots are drawn here at the end.
    A ``memory`` study cannot be read by another process."""
    if settings.storage == MEMORY:
        return False
    return not runs_trials or settings.n_workers < given_cores()


def _finish(live: LiveStudy, figures: figure_process.FigureProcess, status: str) -> None:
    """Close the parent run with the summary and the plots: drawn by the figure process where
    it stands ready, here otherwise (report/summary.py imports matplotlib only then, never on a
    worker's start-up path)."""
    summary = page_summary(live)
    with tempfile.TemporaryDirectory(prefix="cellsweep-figures-") as tmp:
        drawn = figures.draw(
            live.settings.storage,
            live.sweep.default_storage,
            str(live.settings.study_name),
            live.objectives,
            Path(tmp),
        )
        if drawn is None:
            drawn = study_figures(live.study, live.objectives)
        live.sweep.tracker.finish(summary, drawn, status)
