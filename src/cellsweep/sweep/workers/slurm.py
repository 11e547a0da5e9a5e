"""Start sweep workers through a Hydra submitit launcher config (``hydra/launcher=slurm``).

cellsweep's sweeper runs trials inside long-lived workers, so a cluster job is a *worker*, not a
trial: the launcher's settings (partition, time limit, CPUs, ...) become one submitit job array
of ``n_workers`` copies of the sweep command. The parent process runs no trial itself; it
watches the study, shows progress, fails stale trials, and closes the study when it is done.
The mapping of the launcher's keys to submitit's is the one Hydra's launcher applies.
On Slurm the tasks are watched by ``workers/squeue.py``, not by submitit's sacct calls.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from typing import Any

from cellsweep.errors import ConfigError
from cellsweep.sweep.compat import BASIC_LAUNCHER
from cellsweep.sweep.workers.squeue import SlurmArray, SlurmWorker

SUBMITIT_LAUNCHERS = {
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher": "slurm",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher": "local",
}
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

    It is *checkpointable*: on Slurm's warning signal before a time limit or a preemption
    (``--signal=USR2@signal_delay_s``), submitit calls ``checkpoint``, which stops the worker
    cleanly (its running trial is failed and queued again with the trial's checkpoint) and
    returns the same command, which submitit requeues (a time limit: up to
    ``max_num_timeout`` times). The next run of the task resumes that trial.
    """

    def __init__(
        self, argv: list[str], env: Mapping[str, str], cwd: str, stop_s: float = 60.0
    ) -> None:
        self.argv, self.env, self.cwd, self.stop_s = list(argv), dict(env), cwd, stop_s
        self._proc: subprocess.Popen | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_proc": None}  # a process does not travel in the pickle

    def __call__(self) -> int:
        self._proc = subprocess.Popen(self.argv, env={**os.environ, **self.env}, cwd=self.cwd)
        # poll, not wait(): submitit's signal handler runs in this thread, and must be able to
        # poll the worker itself (Popen.wait holds a lock that poll would wait on)
        while (code := self._proc.poll()) is None:
            time.sleep(0.5)
        if code:
            raise RuntimeError(f"the sweep worker exited with code {code}")
        return code

    def stop_worker(self) -> int | None:
        """SIGTERM to the worker (it may have had Slurm's signal already), then wait for it to
        fail and queue its trial, at most ``stop_s`` seconds; its exit code, or None."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_s
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        return proc.poll()

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """Called by submitit on a time limit's or a preemption's signal: stop the worker
        cleanly, then requeue the same command (a fresh worker)."""
        from submitit.helpers import DelayedSubmission

        code = self.stop_worker()
        print(f"cellsweep: worker stopped for requeue (exit {code})", flush=True)
        return DelayedSubmission(WorkerCommand(self.argv, self.env, self.cwd, self.stop_s))


def stop_window(launcher: Mapping[str, Any]) -> float:
    """How long a worker may take to stop on Slurm's warning: most of ``signal_delay_s``, the
    time left before Slurm kills the task."""
    delay = float(launcher.get("signal_delay_s") or 0.0)
    return max(5.0, min(300.0, delay - 10.0)) if delay else 60.0


def check_signal_delay(launcher: Mapping[str, Any]) -> None:
    """The warning signal must come before the time limit, or Slurm sends it as the task
    starts: the worker would stop and requeue at once, then give up. One line, exit 2."""
    delay, limit = launcher.get("signal_delay_s"), launcher.get("timeout_min")
    if delay is None or not limit:
        return
    if float(delay) >= float(limit) * 60:
        raise ConfigError(
            f"hydra.launcher.signal_delay_s={delay} is not shorter than the time limit "
            f"(timeout_min={limit}: {float(limit) * 60:.0f} s): Slurm would signal each worker "
            "as it starts; set signal_delay_s to a fraction of the limit (a tenth is typical)"
        )


class SubmititWorker:
    """A submitit job seen through the ``subprocess.Popen`` methods the sweep loop uses
    (``submitit_local``: its watcher reads local process states, no scheduler involved)."""

    def __init__(self, job: Any) -> None:
        self.job = job
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The job's exit code (0 or 1) once done; None while it runs."""
        if self.returncode is None and self.job.done():
            try:
                self.job.result()  # raises for a failed, cancelled or timed-out job
                self.returncode = 0
            except Exception:
                self.returncode = 1
        return self.returncode

    def wait(self) -> int:
        """Block until the job ends, as ``Popen.wait`` does for a local worker."""
        while self.poll() is None:
            self.job.wait()
        return self.returncode or 0

    def terminate(self) -> None:
        """Cancel the job, so no worker outlives its sweep."""
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
    from cellsweep.extras import require

    require(f"hydra/launcher ({kind})", "slurm")
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
    if kind == "slurm":
        check_signal_delay(launcher)
        check_cluster()
    return executor


def check_cluster() -> None:
    """Slurm's commands installed without a cluster to talk to (no slurm.conf, a controller that
    is down) is one ConfigError line, before the study or the parent run exist: ``sinfo``
    answers in a moment where sbatch would fail only after both were written."""
    try:
        out = subprocess.run(
            ["sinfo", "--noheader", "--format=%P"], capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        raise ConfigError("hydra.launcher (slurm): sinfo did not answer within 30 s") from None
    except OSError as exc:
        raise ConfigError(f"hydra.launcher (slurm): cannot run sinfo: {exc}") from None
    if out.returncode != 0:
        errors = [ln for ln in out.stderr.splitlines() if "error" in ln or "fatal" in ln]
        last = errors[-1].split(":", 1)[-1].strip() if errors else f"exit {out.returncode}"
        raise ConfigError(f"hydra.launcher (slurm): no Slurm cluster answers here ({last})")


def submit_workers(
    executor: Any, argv: list[str], env: Mapping[str, str], n: int, stop_s: float = 60.0
) -> list[SubmititWorker] | list[SlurmWorker]:
    """Submit ``n`` workers as one job array; their logs go to the launcher's submitit_folder.

    A submission sbatch refuses (an unknown partition or account, say) is one ConfigError line
    with sbatch's own message, before any worker exists.
    """
    from submitit.core.utils import FailedJobError

    try:  # submitit also prints sbatch's stderr when it fails: keep it to the one line below
        with contextlib.redirect_stderr(io.StringIO()):
            jobs = executor.submit_array([WorkerCommand(argv, env, os.getcwd(), stop_s)] * n)
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
