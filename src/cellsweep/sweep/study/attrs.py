"""Names of what the sweep stores on Optuna trials and studies, written once.

These are Optuna user attributes, read back by other processes of the study (heartbeats,
retries), by ``cellsweep best``/``adopt`` and by optuna-dashboard. MLflow's tag names live in
``cellsweep.tracking.tags``; the trial-state names both share are Optuna's ``TrialState`` names.
"""

import os
import socket

from cellsweep.vocabulary import DURATION as DURATION  # an attribute, and the metric of that name

RUN_ID = "mlflow_run_id"  # the trial's MLflow run, so a study's best links to its run
FAIL_REASON = "fail_reason"
NOTE = "note"  # why a pruned trial was pruned
RETRIED = "retried"  # failed for a reason not its own (stale, Ctrl-C): not counted as a failure
RETRY_OF = "retry_of"  # the number of the trial this one reruns
FAILED_BY = "failed_by"  # the process that took the trial for stale
HEARTBEAT = "heartbeat"
WORKER = "worker"  # worker_id() of the process that ran the trial
JOB = "cluster_job"  # the Slurm task (array_task, or job id) whose worker ran the trial
OVERRIDES = "overrides"  # what `cellsweep adopt` recomposes the trial's config from
EPOCHS = "epochs"  # epochs actually trained: what pruning saved
# the trial's latest checkpoint, {"path": file, "epoch": epochs it holds}, written as it saves
CHECKPOINT = "checkpoint"
# on a retry: the interrupted trial's checkpoint it resumes from (same form as CHECKPOINT)
RESUME_FROM = "resume_from"
RESUMED_AT = "resumed_at"  # the epoch a resumed trial started from (0: a fresh start)
METRICS = "metrics"  # every scalar the job returned at its end (name -> value): trials.csv
CUDA_DEVICES = "cuda_visible_devices"
OBJECTIVES = "objectives"  # on the study: the metric name of each direction
# the Hydra app that ran the trial: its command (no arguments), launch directory, primary config
# folder and name, so that `cellsweep adopt` can rerun a trial of any app
APP = "app"


def parent_run_key(launch: str) -> str:
    """On the study: the MLflow parent run of one launch of the command, for its workers."""
    return f"parent_run:{launch}"


def launch_clock_key(launch: str) -> str:
    """On the study: when one launch started (wall clock) and the trials done then, so that its
    workers' progress lines count time from the launch, as the lead's do."""
    return f"launch_clock:{launch}"


def lead_key(launch: str) -> str:
    """On the study: the launching process's liveness, ``{"beat": time, "closing": bool}``, so
    the last live worker can tell a dead launcher from a busy one (engine.py)."""
    return f"lead:{launch}"


def cluster_job() -> str | None:
    """This process's Slurm task, as squeue names it (``123_4`` in an array), or None."""
    env = os.environ
    if env.get("SLURM_ARRAY_JOB_ID") and env.get("SLURM_ARRAY_TASK_ID"):
        return f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
    return env.get("SLURM_JOB_ID") or None


def worker_id(pid: int | None = None) -> str:
    """``host:pid`` of a process of the study (this one by default): what ``WORKER`` and
    ``FAILED_BY`` hold, so a watcher can tell which of its workers ran a trial."""
    return f"{socket.gethostname()}:{os.getpid() if pid is None else pid}"
