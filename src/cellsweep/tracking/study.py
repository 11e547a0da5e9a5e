"""A study as an MLflow parent run: created once (reused on resume), ended with the summary."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from cellsweep.tracking.redact import redact_uri
from cellsweep.tracking.run import (
    TrackingSettings,
    _client,
    check_reachable,
    ensure_experiment,
    run_link,
)

log = logging.getLogger(__name__)
ROLE_TAG, STUDY_TAG = "cellsweep.role", "cellsweep.study"
FINGERPRINT_TAG = "cellsweep.study_fingerprint"


class MLflowStudyTracker:
    """Hooks the sweep engine calls (by duck typing): ``start`` and ``finish``."""

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
    ) -> str:
        self.client = _client(self.settings)
        exp_id = self.experiment_id = ensure_experiment(self.client, self.settings)
        found = self.client.search_runs(
            [exp_id],
            f"tags.`{ROLE_TAG}` = 'study' and tags.`{STUDY_TAG}` = '{study_name}'",
            max_results=1,
        )
        if found:
            self.run_id = found[0].info.run_id
            self.client.update_run(self.run_id, status="RUNNING")
        else:
            run = self.client.create_run(
                exp_id,
                run_name=f"study:{study_name}",
                tags={ROLE_TAG: "study", STUDY_TAG: study_name},
            )
            self.run_id = run.info.run_id
        if fingerprint:
            self.client.set_tag(self.run_id, FINGERPRINT_TAG, fingerprint)
        self.client.set_tag(self.run_id, "cellsweep.n_trials", str(n_trials))
        self.client.set_tag(self.run_id, "cellsweep.directions", ",".join(directions))
        self.client.set_tag(self.run_id, "cellsweep.objectives", ",".join(objectives))
        return self.run_id

    def fail_run(self, run_id: str, reason: str) -> None:
        """End a dead worker's trial run as FAILED (it would stay RUNNING forever); any process
        of the study may do it, not only the one that started the parent run."""
        try:
            if self.client is None:
                self.client = _client(self.settings)
            self.client.set_tag(run_id, "cellsweep.trial_state", "FAIL")
            self.client.set_tag(run_id, "cellsweep.fail_reason", reason[:500])
            self.client.set_terminated(run_id, status="FAILED")
        except Exception as exc:  # the sweep goes on; the study records the failure anyway
            log.warning("could not mark MLflow run %s FAILED: %s", run_id, type(exc).__name__)

    def finish(self, summary: Mapping[str, Any], figures: Mapping[str, Any], status: str) -> None:
        if self.client is None or self.run_id is None:
            return
        c, rid = self.client, self.run_id
        if "best_value" in summary:
            c.log_metric(rid, "best_value", float(summary["best_value"]))
            c.set_tag(rid, "cellsweep.best_trial", str(summary["best_trial"]))
            if summary.get("best_run_id"):
                c.set_tag(rid, "cellsweep.best_run_id", str(summary["best_run_id"]))
        for state, n in summary.get("states", {}).items():
            if n:
                c.log_metric(rid, f"trials_{state.lower()}", float(n))
        c.log_text(rid, json.dumps(summary, indent=2, default=str), "study_summary.json")
        for name, fig in figures.items():
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
