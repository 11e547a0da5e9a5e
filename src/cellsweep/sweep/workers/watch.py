"""Watching a sweep from outside its trials: signals, and the worker processes it started."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

import optuna

from cellsweep.errors import SweepAborted
from cellsweep.sweep.study import attrs
from cellsweep.vocabulary import FAILED, KILLED

log = logging.getLogger("cellsweep.sweep")


class Worker(Protocol):
    """A worker process or cluster job, seen through the ``subprocess.Popen`` methods used."""

    returncode: int | None

    def poll(self) -> int | None:
        """The exit code if the worker has ended, else None."""

    def wait(self) -> int:
        """Blocks until the worker ends and returns its exit code."""

    def terminate(self) -> None:
        """Asks the worker to stop (SIGTERM or the scheduler's cancel)."""


class InterruptWatch:
    """Remembers whether SIGINT, SIGTERM or SIGUSR2 arrived, whatever the trial's code made of it.

    Lightning turns Ctrl-C inside ``fit`` into its own shutdown and a ``SystemExit``; the sweep
    still has to end its parent run as KILLED, not FAILED. SIGTERM (a scheduler's stop, a
    requeue) and SIGUSR2 (Slurm's warning before a time limit or a preemption, which submitit
    asks for) are treated as Ctrl-C so that the running trial is failed cleanly as well and
    queued again with its checkpoint; USR2's default action would kill the worker outright.

    Only the first signal interrupts. A second one (Ctrl-C pressed twice, or a scheduler that
    signals each task of an array) would otherwise land inside the cleanup and leave the trial
    RUNNING until another worker's heartbeat check fails it; the cleanup takes seconds, and
    SIGKILL still stops everything at once.
    """

    def __init__(self) -> None:
        self.interrupted = False
        self.signal = ""  # the name of the first signal: the trial's fail reason says it
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.interrupted:
            # os.write, not print: a print here could re-enter one the signal interrupted
            os.write(2, f"{name} again: already stopping, recording the running trial\n".encode())
            return
        self.interrupted, self.signal = True, name
        raise KeyboardInterrupt(name)

    def __enter__(self) -> InterruptWatch:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR2):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

    def end_status(self, exc: BaseException) -> str:
        """The parent run's end: KILLED for Ctrl-C or a signal, FAILED for anything else."""
        return KILLED if self.interrupted or isinstance(exc, KeyboardInterrupt) else FAILED


def check_workers(study: optuna.Study, workers: Sequence[Worker]) -> None:
    """Say how many processes ran trials; raise when a worker process could not start.

    A local worker that exited non-zero without ever taking a trial could not start (a wrong
    command, an import error): an error, though the study may be complete. One that exited
    non-zero after taking trials was killed mid-study: its trials are retried, so a warning.
    """
    ran = {t.user_attrs.get(attrs.WORKER) for t in study.get_trials(deepcopy=False)} - {None}
    failed = [p for p in workers if p.returncode not in (0, None)]
    never = [p for p in failed if getattr(p, "pid", None) and attrs.worker_id(p.pid) not in ran]
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


def check_alive(workers: Sequence[Worker], finished: int, n_trials: int) -> None:
    """A watching parent whose workers all ended before the study did would wait forever."""
    if workers and all(w.poll() is not None for w in workers):
        raise SweepAborted(
            f"all {len(workers)} workers ended with {finished} of "
            f"{n_trials} trials finished; see their logs"
        )


def worker_key(worker: Worker) -> str | None:
    """What a worker's trials carry to name it: ``host:pid`` of a local process (attrs.WORKER),
    the Slurm task (attrs.JOB) of a cluster job."""
    job = getattr(worker, "job", None)
    if job is not None:
        return str(job.job_id)
    pid = getattr(worker, "pid", None)
    return attrs.worker_id(pid) if pid else None


def ended_workers_trials(study: optuna.Study, workers: Sequence[Worker]) -> list[Any]:
    """RUNNING trials of workers that have ended (a time limit with no requeue left, a task
    killed): nobody will finish them, so the watcher fails and queues them at once instead of
    after ``grace_period``, and before it exits itself."""
    ended = {worker_key(w) for w in workers if w.poll() is not None} - {None}
    if not ended:
        return []
    return [
        t
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        if t.user_attrs.get(attrs.JOB) in ended or t.user_attrs.get(attrs.WORKER) in ended
    ]


def settle_workers(workers: Sequence[Worker], patience: float) -> None:
    """The study is done: cancel the cluster workers still pending in the queue (a task
    requeued after a time limit or a preemption would otherwise start only to find nothing
    to do), give running cluster workers ``patience`` seconds to see it, then cancel them;
    local worker processes end by themselves and are waited for."""
    cancelled = sum(1 for w in workers if getattr(w, "cancel_pending", lambda: False)())
    if cancelled:
        print(f"study complete: cancelled {cancelled} queued worker(s)", flush=True)
    deadline = time.monotonic() + patience
    for w in workers:
        if getattr(w, "job", None) is None:
            w.wait()
            continue
        while w.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        if w.poll() is None:
            log.warning(
                "worker %s did not end %.0f s after the study did: cancelled",
                worker_key(w),
                patience,
            )
            w.terminate()


def stop_workers(workers: Sequence[Worker]) -> None:
    """No worker outlives the sweep that started it (an error, Ctrl-C)."""
    for proc in workers:
        if proc.poll() is None:
            proc.terminate()
