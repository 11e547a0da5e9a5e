"""The study's MLflow parent run, opened while the workers start rather than before them.

A launch's workers are started first, with a launch key; the launching process then opens (or,
on resume, reopens) the parent run under the study's lock and publishes its id in the study,
under that key. A worker's trials need the id only when their child runs open, by which time a
worker's start-up (seconds of imports) has almost always outlasted the run's creation, so the
two overlap instead of adding up (issue 14: workers that start at once)."""

from __future__ import annotations

import time
import uuid

import optuna

from cellsweep.sweep import attrs
from cellsweep.sweep.identity import StudyIdentity
from cellsweep.sweep.tracker import StudyTracker

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
) -> str:
    """Open the parent run under the study's lock (processes launched together, or launched
    separately on one PostgreSQL, make one run), then publish its id for ``launch``'s workers."""
    fingerprint = identity.fingerprint if identity is not None else None
    with lock:  # type: ignore[attr-defined]
        run_id = tracker.start(
            str(study.study_name), n_trials, directions, objectives, resumed, fingerprint
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
