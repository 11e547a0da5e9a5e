"""Each trial's MLflow child run, opened by the sweeper for an app that logs no run itself.

A plain Hydra app returns a float and knows nothing of MLflow; the sweeper still gives every
trial a child run of the study's parent run, with the trial's params, the returned values, its
state, duration and fail reason. Metrics the app's Lightning callback reports per epoch
(``cellsweep.OptunaPruning``) land in the same run. Knows no Optuna: states arrive as names.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from cellsweep.tracking.redact import redact_text
from cellsweep.tracking.run import TrackedRun, TrackingSettings, _client, ensure_experiment

END_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "FINISHED", "FAIL": "FAILED"}


class MLflowTrialRuns:
    """Opens, feeds and ends the child runs of one sweep process's trials."""

    def __init__(self, tracking: Mapping[str, Any]) -> None:
        self.settings = TrackingSettings.from_config(tracking)
        self._runs: dict[str, TrackedRun] = {}
        self._experiment: str | None = None

    def open(
        self,
        parent_run_id: str | None,
        study_name: str,
        number: int,
        params: Mapping[str, Any],
    ) -> str:
        """Create the trial's run (RUNNING while the job runs) and log its params."""
        client = _client(self.settings)
        if self._experiment is None:
            self._experiment = ensure_experiment(client, self.settings)
        tags = {
            "cellsweep.study": study_name,
            "cellsweep.trial": str(number),
            "cellsweep.command": redact_text(shlex.join(sys.argv)),
        }
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
        run = client.create_run(self._experiment, run_name=f"{study_name}#{number}", tags=tags)
        tracked = TrackedRun(client, self.settings, run)
        if params:
            tracked.log_params({k: redact_text(str(v)) for k, v in params.items()})
        self._runs[tracked.run_id] = tracked
        return tracked.run_id

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int) -> None:
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
        metrics = {"duration_s": duration_s}
        if values:
            metrics.update(zip(names, values, strict=True))
        run.log_metrics(metrics, step=0)
        tags = {"cellsweep.trial_state": state}
        if reason:
            tags["cellsweep.fail_reason"] = reason[:500]
        run.set_tags(tags)
        run.end(status or END_STATUS.get(state, "FAILED"))
