"""Start sweep workers through a Hydra submitit launcher config (``hydra/launcher=slurm``).

cellsweep's sweeper runs trials inside long-lived workers, so a cluster job is a *worker*, not a
trial: the launcher's settings (partition, time limit, CPUs, ...) become one submitit job array
of ``n_workers`` copies of the sweep command. The parent process runs no trial itself; it
watches the study, shows progress, fails stale trials, and closes the study when it is done.
The mapping of the launcher's keys to submitit's is the one Hydra's launcher applies.

On Slurm the tasks are watched with ``squeue``, not submitit's ``sacct`` calls: many clusters run
without the accounting database, where every ``sacct`` call fails with a warning (three copies
each, through submitit's two handlers and Hydra's root logger) and a task that died without a
result stays UNKNOWN forever. ``squeue`` answers on every Slurm; a task it no longer lists has
ended, and its result file (or its absence) says how.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import pickle
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cellsweep.errors import ConfigError

SUBMITIT_LAUNCHERS = {
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher": "slurm",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher": "local",
}
BASIC_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"
_INIT_KEYS = {"max_num_timeout"}  # executor constructor arguments, not job parameters


def launcher_kind(launcher: Mapping[str, Any] | None) -> str | None:
    """``"slurm"`` or ``"local"`` for a submitit launcher, None for Hydra's basic one."""
    target = str((launcher or {}).get("_target_") or BASIC_LAUNCHER)
    if target == BASIC_LAUNCHER:
        return None
    if target in SUBMITIT_LAUNCHERS:
        return SUBMITIT_LAUNCHERS[target]
    raise ConfigError(
        f"hydra/launcher: {target.rsplit('.', 1)[-1]} cannot start cellsweep workers; use the "
        "default (local processes) or hydra/launcher=slurm (or submitit_local)"
    )


class WorkerCommand:
    """The job a cluster runs: the sweep command as a worker, its output streamed to the job log.

    Only cellsweep's own variables travel in the pickle; the rest of the environment (the
    storage URL with its password, say) comes from the job's own environment, so no secret is
    written into the submitit folder.
    """

    def __init__(self, argv: list[str], env: Mapping[str, str], cwd: str) -> None:
        self.argv, self.env, self.cwd = list(argv), dict(env), cwd

    def __call__(self) -> int:
        code = subprocess.run(self.argv, env={**os.environ, **self.env}, cwd=self.cwd).returncode
        if code:
            raise RuntimeError(f"the sweep worker exited with code {code}")
        return code


class SubmititWorker:
    """A submitit job seen through the ``subprocess.Popen`` methods the sweep loop uses
    (``submitit_local``: its watcher reads local process states, no scheduler involved)."""

    def __init__(self, job: Any) -> None:
        self.job = job
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and self.job.done():
            try:
                self.job.result()  # raises for a failed, cancelled or timed-out job
                self.returncode = 0
            except Exception:
                self.returncode = 1
        return self.returncode

    def wait(self) -> int:
        while self.poll() is None:
            self.job.wait()
        return self.returncode or 0

    def terminate(self) -> None:
        if self.poll() is None:
            self.job.cancel(check=False)


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
            with path.open("rb") as f:
                kind, value = pickle.load(f)
        except Exception as exc:  # a result file cut short
            return 1, f"unreadable result ({type(exc).__name__})"
        if kind == "success":
            return 0, ""
        lines = [ln for ln in str(value).strip().splitlines() if ln.strip()]
        return 1, lines[-1].strip() if lines else "error"

    def wait(self) -> int:
        while self.poll() is None:
            time.sleep(self.array.interval)
        return self.returncode or 0

    def terminate(self) -> None:
        if self.poll() is None:
            self.job.cancel(check=False)


def quiet_submitit_logger() -> None:
    """submitit's logger has a stdout and a stderr handler and also propagates to Hydra's: each
    of its warnings would print three times. Let Hydra's logging print it once."""
    logger = logging.getLogger("submitit")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.propagate = True


def make_executor(launcher: Mapping[str, Any], kind: str) -> Any:
    """A submitit executor configured from the launcher's keys, as Hydra's launcher does it.

    Built before anything is written: a key Slurm does not know is a ConfigError (exit 2).
    """
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf

    quiet_submitit_logger()
    params = {k: v for k, v in launcher.items() if k != "_target_"}
    folder = params.pop("submitit_folder")
    init = {f"{kind}_{k}": params.pop(k) for k in list(params) if k in _INIT_KEYS}
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    try:
        executor = submitit.AutoExecutor(folder=folder, cluster=kind, **init)
        executor.update_parameters(
            **{(k if k in base else f"{kind}_{k}"): v for k, v in params.items() if v is not None}
        )
    except Exception as exc:  # an unknown key (NameError), no srun here (RuntimeError), ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"hydra.launcher ({kind}): {first}") from None
    return executor


def submit_workers(
    executor: Any, argv: list[str], env: Mapping[str, str], n: int
) -> list[SubmititWorker] | list[SlurmWorker]:
    """Submit ``n`` workers as one job array; their logs go to the launcher's submitit_folder.

    A submission Slurm refuses (an unknown partition, more CPUs than a node has) is one
    ConfigError line with sbatch's own message, before any worker exists.
    """
    from submitit.core.utils import FailedJobError

    try:  # submitit also prints sbatch's stderr when it fails: keep it to the one line below
        with contextlib.redirect_stderr(io.StringIO()):
            jobs = executor.submit_array([WorkerCommand(argv, env, os.getcwd())] * n)
    except FailedJobError as exc:
        lines = [ln.split("error:", 1)[-1].strip() for ln in str(exc).splitlines() if ln.strip()]
        raise ConfigError(
            f"hydra.launcher: the job array was refused: {lines[0] if lines else exc}"
        ) from None
    array = jobs[0].job_id.split("_")[0]
    logs = str(executor.folder).replace("%j", f"{array}_*")
    print(f"submitted {n} worker(s) as job array {array}; logs: {logs}", flush=True)
    if executor.cluster == "slurm":
        watch = SlurmArray(array)
        return [SlurmWorker(j, watch) for j in jobs]
    return [SubmititWorker(j) for j in jobs]
