"""A study as an MLflow parent run: created once (reused on resume), ended with the summary."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cellsweep.tracking import tags as T
from cellsweep.tracking.redact import redact_uri
from cellsweep.tracking.run import (
    TrackingSettings,
    check_reachable,
    client_for,
    ensure_experiment,
    run_link,
    set_run_tags,
    write_batch,
)

log = logging.getLogger(__name__)


class MLflowStudyTracker:
    """The sweep's ``StudyTracker`` (cellsweep.sweep.tracker) on MLflow: the study's parent run."""

    records = True

    def __init__(self, tracking: Mapping[str, Any]) -> None:
        self.settings = TrackingSettings.from_config(tracking)
        check_reachable(self.settings)  # before the sweep writes its study
        self.client = None
        self.run_id: str | None = None
        self.experiment_id: str | None = None

    def start(
        self,
        study_name: str,
        n_trials: int,
        directions: list[str],
        objectives: list[str],
        resumed: bool,
        fingerprint: str | None = None,
        sweep_dir: str | None = None,
    ) -> str:
        """Open (or, on resume, reopen) the study's parent run; its id, for the workers. The
        launch's folder is a tag: a resume moves it to the folder of its own launch."""
        self.client = client_for(self.settings)
        exp_id = self.experiment_id = ensure_experiment(self.client, self.settings)
        found = self.client.search_runs(
            [exp_id],
            f"tags.`{T.ROLE}` = '{T.STUDY_ROLE}' and tags.`{T.STUDY}` = '{study_name}'",
            max_results=1,
        )
        if found:
            self.run_id = found[0].info.run_id
            self.client.update_run(self.run_id, status="RUNNING")  # resumed
        else:
            run = self.client.create_run(
                exp_id,
                run_name=f"study:{study_name}",
                tags={T.ROLE: T.STUDY_ROLE, T.STUDY: study_name},
            )
            self.run_id = run.info.run_id
        tags = {
            T.FINGERPRINT: fingerprint or None,
            T.N_TRIALS: str(n_trials),
            T.DIRECTIONS: ",".join(directions),
            T.OBJECTIVES: ",".join(objectives),
            T.SWEEP_DIR: sweep_dir,
        }
        set_run_tags(self.client, self.run_id, tags)
        return self.run_id

    def fail_run(self, run_id: str, reason: str) -> None:
        """End a dead worker's trial run as FAILED (it would stay RUNNING forever); any process
        of the study may do it, not only the one that started the parent run."""
        try:
            if self.client is None:
                self.client = client_for(self.settings)
            tag = functools.partial(set_run_tags, self.client, run_id)
            T.record_trial_outcome(tag, T.FAIL, reason)
            self.client.set_terminated(run_id, status=T.FAILED)
        except Exception as exc:  # the sweep goes on; the study records the failure anyway
            log.warning("could not mark MLflow run %s FAILED: %s", run_id, type(exc).__name__)

    def take_over(self, run_id: str) -> None:
        """Adopt the parent run the launching process opened: it died, and the last live worker
        of the study closes the run in its stead."""
        self.client = client_for(self.settings)
        self.run_id = run_id
        self.experiment_id = self.client.get_run(run_id).info.experiment_id

    def finish(self, summary: Mapping[str, Any], figures: Mapping[str, Any], status: str) -> None:
        """Close the parent run with the study's summary and plots, whatever ended the sweep."""
        if self.client is None or self.run_id is None:
            return
        c, rid = self.client, self.run_id
        metrics = {
            T.state_count_metric(state): float(n)
            for state, n in summary.get("states", {}).items()
            if n
        }
        tags: dict[str, Any] = {}
        if "best_value" in summary:
            metrics[T.BEST_VALUE] = float(summary["best_value"])
            tags = {
                T.BEST_TRIAL: summary["best_trial"],
                T.BEST_RUN_ID: summary.get("best_run_id") or None,
            }
        write_batch(c, rid, metrics, tags)  # a handful of values: always within one call
        c.log_text(rid, json.dumps(summary, indent=2, default=str), "study_summary.json")
        for name, fig in figures.items():  # a drawn figure, or its PNG file by that name
            if isinstance(fig, (str, Path)):
                c.log_artifact(rid, str(fig))
            else:
                c.log_figure(rid, fig, name)
        c.set_terminated(rid, status=status)
        print(f"MLflow study run {rid}: {self.link()}", flush=True)

    def link(self) -> str:
        """Where to see the study in the UI (the runs table, machine-learning view)."""
        path = run_link(str(self.experiment_id), str(self.run_id))
        uri = self.settings.uri or ""
        if uri.startswith(("http://", "https://")):
            return f"{redact_uri(uri).rstrip('/')}/{path}"
        return f"`cellsweep ui`, then http://127.0.0.1:5000/{path}"
