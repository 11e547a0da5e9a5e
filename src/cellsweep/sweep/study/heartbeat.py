"""Stale trials: a running trial's heartbeat, and failing (then retrying) a dead worker's trial.

Optuna's own heartbeat exists only for RDB storages; this one works on every storage: a worker
stamps ``heartbeat`` on its running trial, and any live process of the study that finds a stamp
older than ``grace_period`` fails the trial (its MLflow run too) and queues the same params.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import optuna
from optuna.trial import TrialState

from cellsweep.sweep import compat
from cellsweep.sweep.study import attrs
from cellsweep.sweep.study.record import requeue
from cellsweep.sweep.tracker import NULL_TRACKER, StudyTracker

log = logging.getLogger("cellsweep.sweep")
MISSED_BEATS = 3  # heartbeat writes that fail in a row before it is told, once


def last_beat(trial: optuna.trial.FrozenTrial) -> float | None:
    """When the trial was last known alive: its stamp, else its start."""
    last = trial.user_attrs.get(attrs.HEARTBEAT)
    if last is None and trial.datetime_start is not None:
        last = trial.datetime_start.timestamp()
    return None if last is None else float(last)


def fail_stale_trials(
    study: optuna.Study, grace_period: float, tracker: StudyTracker = NULL_TRACKER
) -> list[int]:
    """Fail RUNNING trials whose heartbeat stopped (a killed worker) and queue them again.

    Any live process of the study (a worker between trials, a worker's heartbeat thread during
    one, the watching parent) may find them. Callers hold the ask lock, so one of them does it;
    where a storage has no such lock, the loser of the race gets Optuna's
    ``UpdateFinishedTrialError`` and leaves the trial (and its retry) to the winner.
    """
    now, failed = time.time(), []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        last = last_beat(t)
        if last is None or now - last <= grace_period:
            continue
        reason = f"stale: no heartbeat for {now - last:.0f} s (worker killed?)"
        if fail_elsewhere(study, t, reason, tracker):
            log.warning("trial %d: %s; queued again", t.number, reason)
            failed.append(t.number)
    return failed


def fail_elsewhere(
    study: optuna.Study,
    trial: optuna.trial.FrozenTrial,
    reason: str,
    tracker: StudyTracker = NULL_TRACKER,
) -> bool:
    """Fail a RUNNING trial whose worker is gone (its MLflow run too, with the same reason) and
    queue it again with its checkpoint; False when another process finished it first."""
    marks = {attrs.FAIL_REASON: reason, attrs.FAILED_BY: attrs.worker_id(), attrs.RETRIED: True}
    try:
        compat.fail_trial_elsewhere(study, trial, marks)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False  # another process failed it first (or its worker finished it after all)
    requeue(study, trial)
    run_id = trial.user_attrs.get(attrs.RUN_ID)
    if run_id:
        tracker.fail_run(run_id, reason)
    return True


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
        missed = 0
        while not self._stop.wait(self.interval):
            try:
                self.trial.set_user_attr(attrs.HEARTBEAT, time.time())
                if missed >= MISSED_BEATS:
                    log.warning("trial %d: heartbeat written again", self.trial.number)
                missed = 0
            except Exception as exc:  # a missed beat is retried next interval...
                missed += 1
                if missed == MISSED_BEATS:  # ...but a heartbeat that keeps failing is told
                    log.warning(
                        "trial %d: %d heartbeats in a row could not be written (%s: %s); "
                        "past grace_period another worker will take the trial for stale",
                        self.trial.number,
                        missed,
                        type(exc).__name__,
                        exc,
                    )
            if self.check is not None and not self._stop.is_set():
                try:
                    self.check()
                except Exception as exc:  # the next interval tries again
                    log.debug("stale-trial check failed: %s", exc)

    def __enter__(self) -> Heartbeat:
        self.trial.set_user_attr(attrs.HEARTBEAT, time.time())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=max(5.0, 2 * self.interval))
