"""A study as an MLflow parent run: created once (reused on resume), ended with the summary."""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cellsweep.redact import redact_text, redact_uri
from cellsweep.tracking import page
from cellsweep.tracking import tags as T
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
PAGE_EVERY_S = 5.0  # the study's page is written at most this often while trials finish


class MLflowStudyTracker:
    """The sweep's ``StudyTracker`` (cellsweep.sweep.tracker) on MLflow: the study's parent run."""

    records = True

    def __init__(self, tracking: Mapping[str, Any]) -> None:
        self.settings = TrackingSettings.from_config(tracking)
        check_reachable(self.settings)  # before the sweep writes its study
        self.client = None
        self.run_id: str | None = None
        self.experiment_id: str | None = None
        self.study_name = ""
        self.objectives: list[str] = []
        self._written = 0.0  # when the page was last written (time.monotonic)
        self._best_run: str | None = None

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
        """Open (or, on resume, reopen) the study's parent run; its id, for the workers. The
        launch's folder is a tag: a resume moves it to the folder of its own launch. ``params``
        (what is searched, and how) become the run's params, and the searched keys the columns
        of the study's saved view of the runs table."""
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
        self.study_name, self.objectives = study_name, list(objectives)
        self._log_params(params or {})
        searched = [k[len(T.SPACE_PREFIX) :] for k in params or {} if k.startswith(T.SPACE_PREFIX)]
        state = page.view_state(self.run_id, self.objectives, directions, searched)
        key, value = page.view_tag(study_name, state)
        self.client.set_experiment_tag(exp_id, key, value)
        return self.run_id

    def _log_params(self, params: Mapping[str, str]) -> None:
        """The study's params, redacted. MLflow keeps a param's first value: on a resume that
        changed one (n_trials, the pruner), the first stays and the tags follow the resume."""
        from mlflow.entities import Param

        have = self.client.get_run(self.run_id).data.params
        new = [Param(k, redact_text(str(v))) for k, v in params.items() if k not in have]
        if new:
            self.client.log_batch(self.run_id, params=new)

    def progress(self, summary: Mapping[str, Any]) -> None:
        """A trial finished: write the page, unless it was written less than PAGE_EVERY_S ago
        (``finish`` writes the last state); a write that fails never stops the sweep."""
        if self.client is None or self.run_id is None:
            return
        if time.monotonic() - self._written < PAGE_EVERY_S:
            return
        try:
            self._write_page(summary, (), final=False)
        except Exception as exc:
            log.warning("could not update the study's MLflow page: %s", type(exc).__name__)

    def _write_page(self, summary: Mapping[str, Any], figures: Any, final: bool) -> None:
        """The description, the best value under the objective's name, and the best tag."""
        c, rid = self.client, str(self.run_id)
        metrics = {
            T.state_count_metric(state): float(n)
            for state, n in summary.get("states", {}).items()
            if n
        }
        tags: dict[str, Any] = {
            T.NOTE: page.description(summary, str(self.experiment_id), rid, figures, final)
        }
        if "best_value" in summary:
            best = float(summary["best_value"])
            metrics[T.BEST_VALUE] = best
            for objective in summary.get("objectives") or self.objectives:
                metrics[T.best_metric(objective)] = best
            tags[T.BEST_TRIAL] = summary["best_trial"]
            tags[T.BEST_RUN_ID] = summary.get("best_run_id") or None
        write_batch(c, rid, metrics, tags)  # a handful of values: always within one call
        self._mark_best(summary.get("best_run_id"))
        self._written = time.monotonic()

    def _mark_best(self, best_run: str | None) -> None:
        """Tag the best trial's run ``cellsweep.best=true``, and untag the one it replaces
        (whichever process or launch tagged it)."""
        if not best_run or best_run == self._best_run:
            return
        c = self.client
        tagged = c.search_runs(
            [str(self.experiment_id)],
            f"tags.`{T.PARENT_RUN}` = '{self.run_id}' and tags.`{T.BEST}` = 'true'",
        )
        for run in tagged:
            if run.info.run_id != best_run:
                c.delete_tag(run.info.run_id, T.BEST)
        c.set_tag(best_run, T.BEST, "true")
        self._best_run = best_run

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
        run = self.client.get_run(run_id)
        self.run_id, self.experiment_id = run_id, run.info.experiment_id
        self.study_name = run.data.tags.get(T.STUDY, "")
        self.objectives = [o for o in run.data.tags.get(T.OBJECTIVES, "").split(",") if o]

    def finish(self, summary: Mapping[str, Any], figures: Mapping[str, Any], status: str) -> None:
        """Close the parent run with the study's summary and plots, whatever ended the sweep."""
        if self.client is None or self.run_id is None:
            return
        c, rid = self.client, self.run_id
        names = [Path(f).name if isinstance(f, (str, Path)) else str(n) for n, f in figures.items()]
        self._write_page(summary, names, final=True)
        c.log_text(rid, json.dumps(summary, indent=2, default=str), "study_summary.json")
        for name, fig in figures.items():  # a drawn figure, or its PNG file by that name
            if isinstance(fig, (str, Path)):
                c.log_artifact(rid, str(fig))
            else:
                c.log_figure(rid, fig, name)
        c.set_terminated(rid, status=status)
        where = "" if self._served() else " (`cellsweep ui` first)"
        print(f"MLflow{where}: the study's trials, best first: {self.link()}", flush=True)
        print(f"  the study's page (run {rid}): {self.page_link()}", flush=True)

    def _served(self) -> bool:
        return (self.settings.uri or "").startswith(("http://", "https://"))

    def _url(self, path: str) -> str:
        if self._served():
            return f"{redact_uri(self.settings.uri).rstrip('/')}/{path}"
        return f"http://127.0.0.1:5000/{path}"

    def link(self) -> str:
        """Where to see the study in the UI: its trials in the runs table (machine-learning
        view), sorted by the objective, through the saved view ``start`` stored."""
        return self._url(page.view_link(str(self.experiment_id), self.study_name))

    def page_link(self) -> str:
        """The study's parent run: its description, params and plots."""
        return self._url(run_link(str(self.experiment_id), str(self.run_id)))
