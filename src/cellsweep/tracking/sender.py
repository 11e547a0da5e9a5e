"""Per-epoch metrics sent from a background thread, so a tracking outage never stops training.

Training hands each epoch's batch to the queue and goes on. The thread sends batches in order,
merging whatever has queued up meanwhile into one request (up to ``max_per_call`` values): a
tracking server slower than the epochs gets a few large requests instead of one per epoch,
which is what made a trial wait at its end for its metrics to drain. When the tracking server
(or a locked SQLite file) refuses one, the batch stays at the head of the queue and is tried
again every ``retry_s`` seconds: the metrics of the gap arrive once the server is back. One
warning says when the outage starts and one line when it ends. What is still unsent when the
run ends, after ``flush`` has waited, is saved to a JSON file and reported as lost in one
warning; nothing fails silently.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from cellsweep.redact import redact_text

log = logging.getLogger("cellsweep.tracking")
MAX_METRICS_PER_CALL = 1000  # MLflow's log_batch limit
SENDER_THREAD = "mlflow-metrics"


class MetricSender:
    """Batches metrics to MLflow off the training thread and retries through an outage."""

    def __init__(
        self,
        client: Any,
        run_id: str,
        retry_s: float = 2.0,
        max_per_call: int = MAX_METRICS_PER_CALL,
    ) -> None:
        self.client, self.run_id, self.retry_s = client, run_id, retry_s
        self.max_per_call = max_per_call
        self._queue: deque[list[Any]] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self.down_since: float | None = None
        self.outages = 0
        self._thread = threading.Thread(target=self._loop, name=SENDER_THREAD, daemon=True)
        self._thread.start()

    def put(self, batch: list[Any]) -> None:
        """Queue one batch; training goes on at once."""
        with self._cond:
            self._queue.append(batch)
            self._cond.notify()

    def pending(self) -> int:
        """Values not yet sent, for the lost-metrics warning."""
        with self._cond:
            return sum(len(b) for b in self._queue)

    def _merged_head(self) -> list[Any]:
        """The head batch, with the batches queued behind it merged in, in order (under lock)."""
        q = self._queue
        while len(q) > 1 and len(q[0]) + len(q[1]) <= self.max_per_call:
            head = q.popleft()
            q[0] = head + q[0]
        return q[0]

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                batch = self._merged_head()
            try:
                self.client.log_batch(self.run_id, metrics=batch)
            except Exception as exc:
                if self.down_since is None:
                    self.down_since, self.outages = time.time(), self.outages + 1
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                    log.warning(
                        "MLflow unreachable (%s: %s); training goes on, its metrics are kept "
                        "and retried every %g s",
                        type(exc).__name__,
                        redact_text(first)[:200],
                        self.retry_s,
                    )
                with self._cond:
                    if self._closing:
                        return  # flush() gave up waiting; what is left is reported there
                    self._cond.wait(self.retry_s)
                continue
            with self._cond:
                if self._queue and self._queue[0] is batch:  # flush() may have given up on it
                    self._queue.popleft()
                self._cond.notify_all()
            if self.down_since is not None:
                log.warning(
                    "MLflow reachable again after %.0f s; the metrics of the gap were sent",
                    time.time() - self.down_since,
                )
                self.down_since = None

    def flush(self, timeout: float, spill: Path | None = None) -> int:
        """Wait up to ``timeout`` s for the queue to drain, then stop the thread.

        Returns how many metric values were lost; they are written to ``spill`` (JSON) when
        given, and reported in one warning.
        """
        deadline = time.time() + timeout
        with self._cond:
            while self._queue and time.time() < deadline:
                self._cond.wait(min(1.0, max(deadline - time.time(), 0.01)))
            self._closing = True
            self._cond.notify_all()
            left = [m for batch in self._queue for m in batch]
            self._queue.clear()
        self._thread.join(timeout=1.0)
        if not left:
            return 0
        where = ""
        if spill is not None:
            spill.parent.mkdir(parents=True, exist_ok=True)
            rows = [{"key": m.key, "value": m.value, "step": m.step} for m in left]
            spill.write_text(json.dumps({"run_id": self.run_id, "metrics": rows}, indent=1))
            where = f"; they are saved in {spill}"
        steps = sorted({m.step for m in left})
        log.warning(
            "MLflow stayed unreachable for %.0f s: %d metric values of run %s (steps %d-%d) "
            "were not logged%s",
            timeout,
            len(left),
            self.run_id,
            steps[0],
            steps[-1],
            where,
        )
        return len(left)
