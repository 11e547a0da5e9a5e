"""Each trial's MLflow child run, opened by the sweeper for an app that logs no run itself.

A plain Hydra app returns a float and knows nothing of MLflow; the sweeper still gives every
trial a child run of the study's parent run, with the trial's params, the returned values, its
state, duration and fail reason. Metrics the app's Lightning callback reports per epoch
(``cellsweep.OptunaPruning``) land in the same run. Knows no Optuna: states arrive as names.
"""

from __future__ import annotations

import logging
import shlex
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from cellsweep.redact import redact_text
from cellsweep.tracking import tags as T
from cellsweep.tracking.params import mlflow_params
from cellsweep.tracking.run import TrackedRun, TrackingSettings, client_for, ensure_experiment

log = logging.getLogger(__name__)


def one_line(exc: BaseException) -> str:
    """The first line of an error, redacted (a store's message may quote its URI)."""
    text = str(exc).strip().splitlines()
    return redact_text(text[0] if text else type(exc).__name__)


class MLflowTrialRuns:
    """The sweep's ``TrialRuns`` (cellsweep.sweep.tracker): the child runs of one sweep
    process's trials."""

    def __init__(self, tracking: Mapping[str, Any]) -> None:
        self.settings = TrackingSettings.from_config(tracking)
        self._runs: dict[str, TrackedRun] = {}
        self._experiment: str | None = None

    def warm(self) -> None:
        """The client and the experiment, ready before the first trial is asked: importing
        MLflow and reaching its store took a spawned worker's first trial 3.5 s against 0.6 s for
        the others (20 trials of 0.5 s, n_jobs 2)."""
        client = client_for(self.settings)
        if self._experiment is None:
            self._experiment = ensure_experiment(client, self.settings)

    def open(
        self,
        parent_run_id: str | None,
        study_name: str,
        number: int,
        params: Mapping[str, Any],
        searched: Mapping[str, Any] | None = None,
        command: Sequence[str] | None = None,
        resumed_from: str | None = None,
        resumed_at: int = 0,
    ) -> str:
        """Create the trial's run (RUNNING while the job runs) and log its params; it is named
        by its number and ``searched`` params, and tagged with ``command``, which reruns it; a
        resumed trial's run links to the interrupted trial's (``resumed_from``)."""
        client = client_for(self.settings)
        if self._experiment is None:
            self._experiment = ensure_experiment(client, self.settings)
        tags = trial_tags_with_command(study_name, number, parent_run_id, command)
        tags |= {k: v for k, v in T.resumed_tags(resumed_from, resumed_at).items() if v}
        name = trial_run_name(number, params if searched is None else searched)
        run = client.create_run(self._experiment, run_name=name, tags=tags)
        tracked = TrackedRun(client, self.settings, run)
        if params:
            try:
                tracked.log_params(mlflow_params(params))
            except Exception as exc:  # a run without its params beats a stopped sweep
                log.warning("trial %d: MLflow refused its params: %s", number, one_line(exc))
        self._runs[tracked.run_id] = tracked
        return tracked.run_id

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int) -> None:
        """Per-epoch metrics from the app's callback, into the trial's open run."""
        run = self._runs.get(run_id)
        if run is not None and metrics:
            run.log_metrics(metrics, step)

    def close(
        self,
        run_id: str,
        state: str,
        names: Sequence[str],
        values: Sequence[float] | None,
        duration_s: float,
        reason: str = "",
        status: str | None = None,
    ) -> None:
        """End the run with what the trial came to: its values, state, duration, reason
        (``status``: MLflow's, when not the state's own, e.g. KILLED for Ctrl-C)."""
        run = self._runs.pop(run_id, None)
        if run is None:
            return
        metrics = {T.DURATION: duration_s}
        if values:
            metrics.update(zip(names, values, strict=True))
        tags: dict[str, Any] = {}
        T.record_trial_outcome(tags.update, state, reason)
        run.log_final(metrics, tags)
        run.end(status or T.END_STATUS.get(state, T.FAILED))

    def kill(self, run_id: str, duration_s: float, reason: str) -> None:
        """End the run of a trial stopped by Ctrl-C or an exit: FAIL, and KILLED in MLflow."""
        self.close(run_id, T.FAIL, [], None, duration_s, reason, T.KILLED)


def trial_tags_with_command(
    study_name: str, number: int, parent_run_id: str | None, command: Sequence[str] | None = None
) -> dict[str, Any]:
    """A trial's tags and the command that reruns it alone (``command``; else the one that
    ran the sweep), redacted: it may hold a password."""
    return {
        **T.trial_tags(study_name, number, parent_run_id),
        T.COMMAND: redact_text(shlex.join(command or sys.argv)),
    }


NAME_CHARS = 250  # MLflow's limit on a run name


def short_value(value: Any) -> str:
    """A param's value in a run name: floats in 2 significant digits (``3.8e-03``, ``0.25``)."""
    if isinstance(value, float):
        return f"{value:.1e}" if value and not 1e-2 <= abs(value) < 1e4 else f"{value:.2g}"
    return str(value)


def trial_run_name(number: int, searched: Mapping[str, Any]) -> str:
    """``#05 window_steps=100 order=2 lr=3.8e-03``: the trial's number first, so a name the
    UI cuts still shows it, then the short form of each searched param (its last key part)."""
    parts = [f"#{number:02d}"]
    parts += [f"{key.rsplit('.', 1)[-1]}={short_value(v)}" for key, v in searched.items()]
    name = " ".join(parts)
    return name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…"
