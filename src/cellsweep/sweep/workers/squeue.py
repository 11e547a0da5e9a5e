"""Watch the tasks of a Slurm job array with ``squeue``, and report the ones that end badly.

submitit watches jobs with ``sacct``, which needs Slurm's accounting database. Many clusters run
without it: there every call fails with a warning (printed three times, through submitit's two
handlers and Hydra's root logger) and a task that died without a result stays UNKNOWN forever,
so the sweep never learns that its workers are gone. ``squeue`` answers on every Slurm: a task it
no longer lists has ended, and its result file (or the lack of one) says how.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path
from typing import Any

from cellsweep.sweep import compat

# Pending reasons that no amount of waiting resolves: the request exceeds what the partition,
# account or QOS allows (an admin would have to change the cluster). Others (Resources,
# Priority, ReqNodeNotAvail for a node being rebooted, ...) are waits.
NEVER_STARTS = {
    "PartitionConfig",
    "BadConstraints",
    "PartitionNodeLimit",
    "PartitionTimeLimit",
    "InvalidAccount",
    "InvalidQOS",
}


class SlurmArray:
    """The state of one job array's tasks, as Slurm holds them (pending, running, completing).

    One ``squeue`` call answers for every task, at most every ``interval`` seconds, however
    many workers the sweep loop polls. A failed call (a busy controller) keeps the last answer
    and is reported once, so a slow scheduler delays the watch but never fakes an ending.
    """

    def __init__(self, array_id: str, interval: float = 3.0) -> None:
        self.array_id, self.interval = array_id, interval
        self._tasks: dict[str, tuple[str, str]] | None = None
        self._at = float("-inf")
        self._warned = False

    def tasks(self) -> dict[str, tuple[str, str]] | None:
        """``{"123_0": ("RUNNING", "None"), ...}`` for the tasks still in the queue; None until
        squeue has answered once."""
        if time.monotonic() - self._at < self.interval:
            return self._tasks
        fmt = ["--format", "%i %T %r"]
        cmd = ["squeue", "--noheader", "--array", "--jobs", self.array_id, *fmt]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            out = subprocess.CompletedProcess(cmd, 1, "", str(exc))
        self._at = time.monotonic()
        if out.returncode == 0:
            rows = [line.split(None, 2) for line in out.stdout.splitlines() if line.strip()]
            self._tasks = {r[0]: (r[1], r[2] if len(r) > 2 else "") for r in rows if len(r) > 1}
        elif "Invalid job id" in out.stderr:  # every task ended, and Slurm already forgot them
            self._tasks = {}
        elif not self._warned:
            self._warned = True
            first = (out.stderr.strip().splitlines() or ["no output"])[0]
            print(f"squeue failed ({first}); still watching job array {self.array_id}", flush=True)
        return self._tasks


def _job_state(job_id: str) -> str:
    """``FAILED (exit 3:0)``, ``CANCELLED``, ...: what Slurm says of an ended task while it
    still remembers it (MinJobAge, 300 s by default); empty when it does not."""
    try:
        out = subprocess.run(
            ["scontrol", "show", "job", job_id], capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    fields = dict(f.split("=", 1) for f in out.split() if "=" in f)
    state = fields.get("JobState", "")
    code = fields.get("ExitCode", "0:0")
    return f"{state} (exit {code})" if state and code != "0:0" else state


def _last_line(path: Path) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:200] if lines else ""


class SlurmWorker:
    """One task of a Slurm job array, seen through the ``subprocess.Popen`` methods the sweep
    loop uses. A task that ends without a result (cancelled, killed, its setup failed) or with
    an error is reported in one line, once, with its state and the end of its log."""

    def __init__(self, job: Any, array: SlurmArray) -> None:
        self.job, self.array = job, array
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The task's exit code once squeue no longer lists it; None while it runs."""
        if self.returncode is not None:
            return self.returncode
        tasks = self.array.tasks()
        if tasks is None:
            return None
        if self.job.job_id in tasks:
            state, reason = tasks[self.job.job_id]
            if state != "PENDING" or reason not in NEVER_STARTS:
                return None
            self.job.cancel(check=False)
            self.returncode = 1
            print(
                f"worker {self.job.job_id} cannot start: Slurm holds it pending ({reason}: the "
                "request exceeds what the partition allows); cancelled",
                flush=True,
            )
            return self.returncode
        self.returncode, why = self._outcome()
        if self.returncode:
            state = _job_state(self.job.job_id)
            last = _last_line(self.job.paths.stderr) or _last_line(self.job.paths.stdout)
            print(
                f"worker {self.job.job_id} ended{f' {state}' if state else ''}: {why}"
                f"{f' ({last})' if last and last not in why else ''}; log: {self.job.paths.stderr}",
                flush=True,
            )
        return self.returncode

    def _outcome(self) -> tuple[int, str]:
        path = self.job.paths.result_pickle
        # refresh the folder's attributes first, as submitit does on shared file systems
        with contextlib.suppress(OSError):
            path.parent.chmod(path.parent.stat().st_mode)
        if not path.exists():
            return 1, "no result (it never started, or was killed)"
        try:
            kind, value = compat.submitit_result(path)
        except Exception as exc:  # a result file cut short
            return 1, f"unreadable result ({type(exc).__name__})"
        if kind == "success":
            return 0, ""
        lines = [ln for ln in str(value).strip().splitlines() if ln.strip()]
        return 1, lines[-1].strip() if lines else "error"

    def cancel_pending(self) -> bool:
        """Cancel the task if it waits in the queue (requeued after a time limit or a
        preemption) and the study no longer needs it; True if it did. Not an ending to report."""
        if self.returncode is not None:
            return False
        tasks = self.array.tasks() or {}
        if tasks.get(self.job.job_id, ("",))[0] != "PENDING":
            return False
        self.job.cancel(check=False)
        self.returncode = 0
        return True

    def wait(self) -> int:
        """Block until the task ends, as ``Popen.wait`` does for a local worker."""
        while self.poll() is None:
            time.sleep(self.array.interval)
        return self.returncode or 0

    def terminate(self) -> None:
        """Cancel the task, so no worker outlives its sweep."""
        if self.poll() is None:
            self.job.cancel(check=False)
