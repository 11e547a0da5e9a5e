"""The live Optuna trial of the job being run, visible to the entry point of that job.

The sweeper runs each trial's job in its own worker process with the ``optuna.Trial`` set here,
so the job can report intermediate values (pruning) and record its MLflow run id on the trial.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import optuna

from cellsweep.sweep.study import attrs


@dataclass
class TrialContext:
    """What a job needs of its trial: report, prune, and join the study's MLflow runs."""

    trial: optuna.Trial
    study_name: str
    objectives: list[str]
    directions: list[str]
    pruning: bool
    parent_run_id: str | None = None
    #: the trial's MLflow run when the sweeper opened it (an app that logs none of its own)
    run_id: str | None = None
    #: ``log_metrics(metrics, step)`` into that run, for the public Lightning callback
    log_metrics: Callable[[Mapping[str, float], int], None] | None = None
    #: the trial's overrides less the sweep's own: the app run with these reruns this trial
    rerun: list[str] = field(default_factory=list)
    #: where this trial's checkpoint goes (its folder, named by study and trial number)
    checkpoint_path: str | None = None
    #: seconds between checkpoints (0: none); a trial shorter than this writes none
    checkpoint_every: float = 0.0
    #: the checkpoint of the interrupted trial this one resumes (None: a fresh start); pass it
    #: to ``trainer.fit(..., ckpt_path=...)``
    resume_from: str | None = None
    #: the epoch that checkpoint holds: the pruner already has the reports of earlier epochs
    resume_epoch: int = 0
    #: the MLflow run of the interrupted trial, which this trial's run links to
    resume_run_id: str | None = None

    def record_checkpoint(self, path: str, epoch: int) -> None:
        """Name the trial's latest checkpoint on the trial: if the trial is interrupted, its
        retry resumes from it (``epoch``: how many epochs it holds)."""
        self.trial.set_user_attr(attrs.CHECKPOINT, {"path": str(path), "epoch": int(epoch)})


# overrides that say how a sweep runs, not what a trial is: a rerun of one trial drops them
SWEEP_ONLY = ("hydra.sweeper", "hydra/sweeper", "hydra.sweep.", "hydra.launcher", "hydra/launcher")


def rerun_overrides(overrides: list[str]) -> list[str]:
    """A trial's overrides less those that only configure the sweep."""
    return [o for o in overrides if not o.lstrip("+~").startswith(SWEEP_ONLY)]


_CURRENT: ContextVar[TrialContext | None] = ContextVar("cellsweep_trial", default=None)


def current_trial() -> TrialContext | None:
    """The trial this job runs for, or None outside a sweep."""
    return _CURRENT.get()


@contextmanager
def trial_scope(ctx: TrialContext) -> Iterator[TrialContext]:
    """Make ``ctx`` the current trial for the job's code, and only for the job."""
    token = _CURRENT.set(ctx)
    try:
        yield ctx
    finally:
        _CURRENT.reset(token)
