"""What the sweep asks of a tracker, as Protocols: the engine and the Hydra glue are typed
against these, and ``cellsweep.tracking``'s MLflow classes satisfy them without either layer
importing the other (train.py and the plugin's class paths are where they meet)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class StudyTracker(Protocol):
    """The study's parent run: opened once, while the spawned workers start (they find its id in
    the study, sweep/engine.py), and closed with the summary."""

    #: whether runs are kept: a tracker that keeps none needs no parent run and no figures
    records: bool

    def start(
        self,
        study_name: str,
        n_trials: int,
        directions: list[str],
        objectives: list[str],
        resumed: bool,
        fingerprint: str | None = None,
        sweep_dir: str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> str:
        """Open (or, on resume, reopen) the study's parent run; returns its id. ``sweep_dir``
        is this launch's output folder (a resume is a launch of its own); ``params`` says what
        the study searches and how (``space.<key>``, sampler, pruner, ...)."""
        ...

    def progress(self, summary: Mapping[str, Any]) -> None:
        """A trial finished: bring the study's page up to date (a tracker may skip writes that
        come too soon after the last; ``finish`` writes the last state)."""
        ...

    def fail_run(self, run_id: str, reason: str) -> None:
        """End a dead worker's trial run as FAILED, from any process of the study."""
        ...

    def take_over(self, run_id: str) -> None:
        """Adopt the parent run another process opened (a launcher that died), so that
        ``finish`` closes it from here."""
        ...

    def finish(self, summary: Mapping[str, Any], figures: Mapping[str, Any], status: str) -> None:
        """Close the parent run with the summary and plots (figures, or PNG files by name),
        however the sweep ended."""
        ...


@runtime_checkable
class TrialRuns(Protocol):
    """Each trial's child run, for an app that opens none of its own."""

    def warm(self) -> None:
        """Get ready to open runs (import the client, reach the store) before a trial is
        asked, so that a worker's first trial does not wait on it."""
        ...

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
        """Create the trial's run before its job starts (named by its number and ``searched``
        params, tagged with the ``command`` that reruns it alone); returns its id. A trial
        resumed from an interrupted one's checkpoint gets a new run linked to that one's
        (``resumed_from``)."""
        ...

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int) -> None:
        """Per-epoch metrics from the app's callback, into the trial's run."""
        ...

    def close(
        self,
        run_id: str,
        state: str,
        names: Sequence[str],
        values: Sequence[float] | None,
        duration_s: float,
        reason: str = "",
    ) -> None:
        """End the trial's run with its values, state, duration and reason."""
        ...

    def kill(self, run_id: str, duration_s: float, reason: str) -> None:
        """End the run of a trial stopped by Ctrl-C or an exit."""
        ...


class NullTracker:
    """The tracker of a sweep with tracking off (``tracking: false``): it keeps nothing, so the
    engine asks it as it asks any tracker, and no part of the loop checks for None."""

    records = False

    def start(
        self,
        study_name: str,
        n_trials: int,
        directions: list[str],
        objectives: list[str],
        resumed: bool,
        fingerprint: str | None = None,
        sweep_dir: str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> str:
        """No run: an empty id."""
        return ""

    def progress(self, summary: Mapping[str, Any]) -> None:
        """No page to update."""

    def fail_run(self, run_id: str, reason: str) -> None:
        """Nothing to fail."""

    def take_over(self, run_id: str) -> None:
        """Nothing to adopt."""

    def finish(self, summary: Mapping[str, Any], figures: Mapping[str, Any], status: str) -> None:
        """Nothing to close."""


NULL_TRACKER = NullTracker()
