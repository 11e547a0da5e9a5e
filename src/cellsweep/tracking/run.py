"""MLflow run lifecycle through ``MlflowClient`` (no global fluent state).

A ``TrackedRun`` is created before training, receives params, tags, per-epoch metrics and
artifacts, and ends FINISHED, FAILED (an exception) or KILLED (Ctrl-C): a run never stays
RUNNING because its process died in Python.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cellsweep.errors import ConfigError
from cellsweep.redact import redact_uri
from cellsweep.tracking import sqlite_seed
from cellsweep.tracking import tags as T
from cellsweep.tracking.sender import MAX_METRICS_PER_CALL, SENDER_THREAD, MetricSender

log = logging.getLogger(__name__)

MAX_PARAMS_PER_CALL = 100
# MLflow 3's UI opens an experiment by its kind: without this tag, on the GenAI overview (traces,
# token usage); with it, on the table of training runs, which is what cellsweep logs.
EXPERIMENT_KIND_TAG, EXPERIMENT_KIND = T.EXPERIMENT_KIND, "custom_model_development"
UI_QUERY = "?workflowType=machine_learning"  # links open the UI's machine-learning view


@dataclass(frozen=True)
class TrackingSettings:
    """The ``tracking`` node, checked once: where runs go and how long an outage may last."""

    enabled: bool
    uri: str | None
    artifact_location: str | None
    experiment: str
    flush_timeout_s: float = 300.0  # how long a run's end waits for an unreachable server
    retry_s: float = 2.0  # seconds between tries of a refused metrics batch

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> TrackingSettings:
        """Settings from the config's ``tracking`` node; enabled tracking needs a URI."""
        enabled = bool(cfg.get("enabled", True))
        uri = cfg.get("uri")
        if enabled and not uri:
            raise ConfigError("tracking.uri is required when tracking is enabled")
        return cls(
            enabled,
            uri,
            cfg.get("artifact_location"),
            str(cfg.get("experiment")),
            float(cfg.get("flush_timeout_s", 300.0)),
            float(cfg.get("retry_s", 2.0)),
        )


def check_reachable(settings: TrackingSettings, timeout: float = 5.0) -> None:
    """Fail fast, in one line, when a tracking server cannot be reached at all.

    MLflow's client retries a refused request for minutes before it gives up; a typo in
    MLFLOW_TRACKING_URI should not cost that, nor leave a study half written.
    """
    if not settings.enabled or not settings.uri:
        return
    parts = urlsplit(settings.uri)
    if parts.scheme not in ("http", "https"):
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=timeout).close()
    except OSError as exc:
        raise ConfigError(
            f"tracking.uri {redact_uri(settings.uri)}: cannot connect ({exc.strerror or exc}); "
            "is the MLflow server running? (`make services`, or MLFLOW_TRACKING_URI)"
        ) from None


_CLIENTS: dict[str | None, Any] = {}

# An outage of the tracking server is cellsweep's to handle, not MLflow's. MLflow's own HTTP
# retries (7 of them, backing off up to 2 minutes) held each metrics request through an outage:
# cellsweep's sender never saw the error (no warning, no end line), and it saw the server's
# return only when urllib3's back-off ended, up to a minute later, while the trial's end waited.
# A request now fails within seconds (2 quick retries ride out a blip for the other calls) and
# the sender retries every ``retry_s``; a value the user set in the environment is kept.
HTTP_SETTINGS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",  # urllib3 sleeps 0 s, then 2 s
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",  # seconds without an answer (not a whole upload)
}


class _NotFromSender(logging.Filter):
    """urllib3's 'Retrying ...' warnings of the metrics thread: the sender reports the outage
    itself, once, and its end in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return threading.current_thread().name != SENDER_THREAD


def own_outages() -> None:
    """MLflow's HTTP retry and timeout settings for cellsweep's outage handling (see above)."""
    for key, value in HTTP_SETTINGS.items():
        os.environ.setdefault(key, value)
    pool = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _NotFromSender) for f in pool.filters):
        pool.addFilter(_NotFromSender())


def client_for(settings: TrackingSettings):
    """One client per URI and process: building one checks the store's schema (~0.1 s)."""
    # MLflow prints run URLs itself, credentials included; we print a redacted one instead.
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    own_outages()
    if settings.uri in _CLIENTS:
        return _CLIENTS[settings.uri]
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    db = sqlite_seed.sqlite_path(settings.uri)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    seeded = db is not None and sqlite_seed.seed(db)  # a new store skips MLflow's migrations
    try:
        client = MlflowClient(tracking_uri=settings.uri)
    except MlflowException:
        if not seeded:
            raise
        log.warning("MLflow refused the store copied from the schema cache: building it anew")
        sqlite_seed.discard(settings.uri, db)
        client = MlflowClient(tracking_uri=settings.uri)
    _CLIENTS[settings.uri] = client
    return client


def ensure_experiment(client, settings: TrackingSettings) -> str:
    """The experiment's id, created on first use (tolerating a concurrent creator), tagged as
    a model-training experiment so that the UI opens on its runs."""
    exp = client.get_experiment_by_name(settings.experiment)
    if exp is not None:
        if exp.tags.get(EXPERIMENT_KIND_TAG) is None:  # made by an older cellsweep, or by hand
            client.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
        return exp.experiment_id
    location = None
    if settings.artifact_location:
        path = Path(settings.artifact_location) / settings.experiment
        path.mkdir(parents=True, exist_ok=True)
        location = path.resolve().as_uri()
    try:
        return client.create_experiment(
            settings.experiment,
            artifact_location=location,
            tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND},
        )
    except Exception:  # another process created it in between
        exp = client.get_experiment_by_name(settings.experiment)
        if exp is None:
            raise
        return exp.experiment_id


class TrackedRun:
    """One MLflow run: the small API the entry point and callbacks use.

    Metrics go through a background sender (an outage delays them, it does not stop training);
    ``flush`` waits for them before the artifacts and the end of the run.
    """

    def __init__(self, client, settings: TrackingSettings, run, spill_dir: Path | None = None):
        self.client, self.settings, self._run = client, settings, run
        self.run_id: str = run.info.run_id
        self.experiment_id: str = run.info.experiment_id
        self.spill_dir = spill_dir
        self._sender: MetricSender | None = None
        self.lost_metrics = 0
        #: the status the run ends with when its block exits normally (a pruned trial: KILLED)
        self.end_status: str = T.FINISHED

    @property
    def artifact_uri(self) -> str:
        """Where the run's artifacts went, for the summary a user reads."""
        return self._run.info.artifact_uri

    def log_params(self, params: Mapping[str, str]) -> None:
        """Params in batches, under MLflow's per-call limit."""
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in params.items()]
        for i in range(0, len(items), MAX_PARAMS_PER_CALL):
            self.client.log_batch(self.run_id, params=items[i : i + MAX_PARAMS_PER_CALL])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Tags in batches (None values skipped)."""
        set_run_tags(self.client, self.run_id, tags)

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Queue metrics for the background sender: an outage never stops training."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, int(step)) for k, v in metrics.items()]
        if self._sender is None:
            self._sender = MetricSender(self.client, self.run_id, self.settings.retry_s)
        for i in range(0, len(items), MAX_METRICS_PER_CALL):
            self._sender.put(items[i : i + MAX_METRICS_PER_CALL])

    def log_final(self, metrics: Mapping[str, float], tags: Mapping[str, Any]) -> None:
        """A run's closing metrics and tags in one write (one SQLite transaction, not one per
        kind); through an outage the metrics fall back to the retrying sender."""
        self.flush()  # the per-epoch metrics go first, in order
        try:
            if write_batch(self.client, self.run_id, metrics, tags):
                return
        except Exception:  # retried in the background; the tags' error is the one raised
            pass
        self.log_metrics(metrics, step=0)
        self.set_tags(tags)

    def flush(self, wait: float | None = None) -> None:
        """Send every queued metric, waiting up to ``wait`` (default ``flush_timeout_s``) s."""
        if self._sender is not None:
            spill = self.spill_dir / "unlogged_metrics.json" if self.spill_dir else None
            wait = self.settings.flush_timeout_s if wait is None else wait
            self.lost_metrics += self._sender.flush(wait, spill)
            self._sender = None

    def log_text(self, text: str, name: str) -> None:
        """A text artifact (config, overrides), read in the UI beside the run."""
        self.client.log_text(self.run_id, text, name)

    def log_figure(self, figure, name: str) -> None:
        """A figure artifact, shown in the UI beside the run."""
        self.client.log_figure(self.run_id, figure, name)

    def log_file(self, path: str | Path, artifact_path: str | None = None) -> None:
        """A file artifact (the weights), so the run can be reloaded."""
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def end(self, status: str = T.FINISHED) -> None:
        """Flush the metrics, then close the run, so it never stays RUNNING."""
        self.flush(wait=5.0 if status == T.KILLED else None)  # Ctrl-C does not wait long
        self.client.set_terminated(self.run_id, status=status)

    def ui_hint(self) -> str:
        """The UI path of this run, for the line printed at the end."""
        return run_link(self.experiment_id, self.run_id)

    def path_of(self, run_id: str) -> str | None:
        """The UI path of another run of this store (None if the store does not hold it): an
        adopted rerun links the trial it came from."""
        if not run_id:
            return None
        try:
            other = self.client.get_run(run_id)
        except Exception:  # another store's run, or a deleted one: named, not linked
            return None
        return run_link(other.info.experiment_id, run_id)


def write_batch(client, run_id: str, metrics: Mapping[str, float], tags: Mapping[str, Any]) -> bool:
    """Metrics (at step 0) and tags (None values skipped) in one ``log_batch``, one write;
    False, with nothing written, when they exceed one call's limits."""
    from mlflow.entities import Metric, RunTag

    now = int(time.time() * 1000)
    items = [Metric(k, float(v), now, 0) for k, v in metrics.items()]
    tag_items = [RunTag(k, str(v)) for k, v in tags.items() if v is not None]
    if len(items) > MAX_METRICS_PER_CALL or len(tag_items) > MAX_PARAMS_PER_CALL:
        return False
    if items or tag_items:
        client.log_batch(run_id, metrics=items, tags=tag_items)
    return True


def set_run_tags(client, run_id: str, tags: Mapping[str, Any]) -> None:
    """Tags in batches (None values skipped): any process may tag a run it did not open."""
    from mlflow.entities import RunTag

    items = [RunTag(k, str(v)) for k, v in tags.items() if v is not None]
    for i in range(0, len(items), MAX_PARAMS_PER_CALL):
        client.log_batch(run_id, tags=items[i : i + MAX_PARAMS_PER_CALL])


def run_link(experiment_id: str, run_id: str) -> str:
    """The UI path of a run (after the server's address), in the machine-learning view."""
    return f"#/experiments/{experiment_id}/runs/{run_id}{UI_QUERY}"


@contextmanager
def start_run(
    settings: TrackingSettings,
    run_name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    parent_run_id: str | None = None,
    spill_dir: Path | None = None,
) -> Iterator[TrackedRun]:
    """Create a run, yield it, and end it FINISHED, FAILED or KILLED according to how we exit."""
    client = client_for(settings)
    experiment_id = ensure_experiment(client, settings)
    all_tags = {k: str(v) for k, v in (tags or {}).items() if v is not None}
    if parent_run_id:
        all_tags[T.PARENT_RUN] = parent_run_id
    run = client.create_run(experiment_id, run_name=run_name, tags=all_tags)
    tracked = TrackedRun(client, settings, run, spill_dir)
    try:
        yield tracked
    except KeyboardInterrupt:
        tracked.end(T.KILLED)
        raise
    except BaseException:
        tracked.end(T.FAILED)
        raise
    else:
        tracked.end(tracked.end_status)
