"""``hydra/launcher=slurm`` against a real Slurm: workers as one job array, watched, cancelled.

A single-node cluster (munged, slurmctld, slurmd from Debian's slurm 22.05; no accounting
database, as on many small clusters) is started for this module by scripts/slurm.sh, with all
its state under a temporary folder, two stand-in GPUs as gres/gpu (device files: Slurm hands
them out and sets CUDA_VISIBLE_DEVICES, torch here is CPU-only) and four CPUs. Every case is
the real path: sbatch, srun, squeue, scancel, Slurm's own signals. Skipped, with the reason,
where Slurm is not installed or we are not root; `.ci/run` installs it and sets
CELLSWEEP_REQUIRE_SLURM=1, so on CI a cluster that cannot start fails instead.

No stand-in scheduler is left: a node that dies is `scancel --signal=KILL` of its task's step
(the worker gets no chance to clean up, as when a node's power goes; a job-level scancel always
sends SIGTERM first, KillWait seconds before SIGKILL), and a worker that can never
start is a real request the partition cannot satisfy. What a real scheduler cannot produce on
demand here is a multi-node allocation and preemption by a higher-priority job (one node, one
partition): the worker treats both like the cases above (a task that ends, a SIGTERM).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from optuna.trial import TrialState

from helpers.run import ROOT
from helpers.servers import slurm_missing
from helpers.sweep import load, mlflow_runs, sweep_command

PLANTED = "planted-secret-4f1c"  # in the submitting shell's environment only
# one cluster per module: under pytest-xdist every test of it runs in the same worker
pytestmark = [pytest.mark.slow, pytest.mark.server("slurm"), pytest.mark.xdist_group("slurm")]


def _free_port_pair() -> int:
    """A port p with p+1 free too (slurmctld, slurmd), away from a `make slurm` cluster."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair")


@pytest.fixture(scope="module")
def slurm(tmp_path_factory) -> dict[str, str]:
    """A running single-node Slurm; the environment its client commands need."""
    reason = slurm_missing()  # the server marker skips already unless CELLSWEEP_REQUIRE_SLURM
    if reason:
        if os.environ.get("CELLSWEEP_REQUIRE_SLURM") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    state = tmp_path_factory.mktemp("slurm")
    env = {
        **os.environ,
        "CELLSWEEP_SLURM_DIR": str(state),
        "CELLSWEEP_SLURM_PORT": str(_free_port_pair()),
        "CELLSWEEP_SLURM_CPUS": "4",
        "CELLSWEEP_SLURM_GPUS": "2",
        "SLURM_CONF": str(state / "slurm.conf"),
    }
    script = str(ROOT / "scripts" / "slurm.sh")
    start = subprocess.run([script, "start"], env=env, capture_output=True, text=True)
    if start.returncode != 0:
        subprocess.run([script, "stop"], env=env, capture_output=True)
        pytest.fail(f"scripts/slurm.sh start failed: {start.stderr.strip()}")
    yield {**env, "CELLSWEEP_TEST_PLANTED": PLANTED}
    subprocess.run(["scancel", "--full", "--user", "root"], env=env, capture_output=True)
    _wait_queue_empty(env, 60)
    subprocess.run([script, "stop"], env=env, capture_output=True)


def _queue(env: dict[str, str], array: str | None = None) -> list[str]:
    cmd = ["squeue", "--noheader", "--array", "--format", "%i %T"]
    out = subprocess.run(
        [*cmd, *(["--jobs", array] if array else [])], env=env, capture_output=True, text=True
    )
    return out.stdout.split("\n") if out.returncode == 0 and out.stdout.strip() else []


def _wait_queue_empty(env: dict[str, str], timeout: float, array: str | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not [q for q in _queue(env, array) if q.strip()]:
            return True
        time.sleep(0.5)
    return False


def _job_states(env: dict[str, str], array: str) -> list[str]:
    out = subprocess.run(
        ["scontrol", "show", "job", array], env=env, capture_output=True, text=True
    ).stdout
    return re.findall(r"JobState=(\S+)", out)


def _argv(tmp: Path, n_trials: int, epochs: int, *extra: str) -> list[str]:
    return [
        *sweep_command(tmp, n_trials, epochs),
        "hydra/launcher=slurm",
        "hydra.launcher.partition=debug",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.mem_gb=1",
        "hydra.sweeper.n_workers=2",
        *extra,
    ]


def _array(out: str) -> str:
    match = re.search(r"submitted 2 worker\(s\) as job array (\d+)", out)
    assert match, out[-3000:]
    return match.group(1)


def _task_logs(tmp: Path, array: str) -> str:
    """The end of each array task's log, for a failure message."""
    logs = sorted((tmp / "multirun" / ".submitit").glob(f"{array}_*/{array}_*_0_log.*"))
    return "\n".join(f"== {p.name}\n" + p.read_text()[-1500:] for p in logs)


def _wait_two_running(tmp: Path, proc: subprocess.Popen, timeout: float = 300) -> None:
    journal = tmp / "sweeps" / "optuna.journal"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
        if journal.exists():
            running = [t for t in load(tmp).trials if t.state == TrialState.RUNNING]
            if len(running) == 2 and all("mlflow_run_id" in t.user_attrs for t in running):
                return
    proc.kill()
    pytest.fail(f"the array never ran two trials at once: {proc.communicate()[0][-3000:]}")


def _parent_status(tmp: Path) -> str:
    _, runs = mlflow_runs(tmp)
    (parent,) = [r for r in runs if r.data.tags.get("cellsweep.role") == "study"]
    return parent.info.status


def test_job_array_runs_the_study_each_worker_on_its_own_gpu(slurm, tmp_path) -> None:
    proc = subprocess.run(
        _argv(tmp_path, 4, 4, "hydra.launcher.gpus_per_node=1"),
        env=slurm,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    array = _array(proc.stdout)
    script = (tmp_path / "multirun" / ".submitit" / array / f"{array}_submission.sh").read_text()
    for line in ("--array=0-1%2", "--partition=debug", "--cpus-per-task=1", "--gpus-per-node=1"):
        assert f"#SBATCH {line}" in script, script
    assert _job_states(slurm, array) == ["COMPLETED", "COMPLETED"]

    study = load(tmp_path)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4  # exactly n_trials
    devices = defaultdict(set)  # each task trained on the one GPU Slurm gave it
    for t in study.trials:
        devices[t.user_attrs["worker"]].add(t.user_attrs.get("cuda_visible_devices"))
    assert sorted(map(sorted, devices.values())) == [["0"], ["1"]], devices  # both ran trials
    _, runs = mlflow_runs(tmp_path)
    parents = [r for r in runs if r.data.tags.get("cellsweep.role") == "study"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == 4
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    # the submitting command ran no trial: each task's log shows its own
    logs = sorted((tmp_path / "multirun" / ".submitit").glob(f"{array}_*/{array}_*_0_log.out"))
    assert len(logs) == 2
    assert sum(p.read_text().count("[trial ") for p in logs) == 4
    assert "[trial " not in proc.stdout
    # no accounting database here: no sacct call, no warning, and no line printed twice
    both = proc.stdout + proc.stderr
    assert "sacct" not in both and "accounting" not in both, both[-3000:]
    lines = [ln for ln in both.splitlines() if ln.strip()]
    assert len(lines) == len(set(lines)), both[-3000:]
    # only cellsweep's own variables travel in the job files, not the submitting environment
    for path in (tmp_path / "multirun" / ".submitit").rglob("*"):
        if path.is_file():
            assert PLANTED.encode() not in path.read_bytes(), path


def test_ctrl_c_cancels_the_array_and_a_rerun_resumes(slurm, tmp_path) -> None:
    argv = _argv(tmp_path, 2, 100)
    proc = subprocess.Popen(
        argv, env=slurm, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    _wait_two_running(tmp_path, proc)
    proc.send_signal(signal.SIGINT)
    out = proc.communicate(timeout=120)[0]
    array = _array(out)
    assert proc.returncode != 0, out[-2000:]
    assert "Traceback" not in out, out[-3000:]
    # Slurm signalled the tasks (SIGTERM, then SIGKILL after KillWait=30 s): they left the queue
    assert _wait_queue_empty(slurm, 90, array), _queue(slurm, array)
    assert _job_states(slurm, array) == ["CANCELLED", "CANCELLED"]
    trials = load(tmp_path).trials
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert not [t for t in trials if t.state == TrialState.RUNNING], _task_logs(tmp_path, array)
    assert len(failed) == 2 and all("interrupted" in t.user_attrs["fail_reason"] for t in failed)
    assert _parent_status(tmp_path) == "KILLED"

    # the same command resumes: a new array runs the two interrupted trials' parameters again
    again = subprocess.run(argv, env=slurm, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    study = load(tmp_path)
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 2 and len(study.trials) == 4  # nothing lost, nothing run twice
    assert sorted(t.user_attrs["retry_of"] for t in complete) == sorted(f.number for f in failed)
    assert {tuple(sorted(t.params.items())) for t in complete} == {
        tuple(sorted(f.params.items())) for f in failed
    }


def test_a_task_killed_mid_trial_is_recovered_by_the_heartbeat(slurm, tmp_path) -> None:
    """`scancel --signal=KILL` of one task's step: its worker dies at once, as on a node that
    fails (a plain `scancel` sends SIGTERM first, and the worker fails its trial itself, as in
    the Ctrl-C test), its trial stays RUNNING without a heartbeat, and the other worker runs it
    again once grace_period has passed (or at once, when the watcher sees the task leave the
    queue first)."""
    # trials of ~4 s (60 epochs) could both end between two polls on a quiet machine: the
    # array "never ran two trials at once"; 200 epochs give the poll and the kill ~12 s
    argv = _argv(
        tmp_path, 2, 200, "hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=10"
    )
    proc = subprocess.Popen(
        argv, env=slurm, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    _wait_two_running(tmp_path, proc)
    (task1,) = (tmp_path / "multirun" / ".submitit").glob("*_1")  # submitit's folder for task 1
    array = task1.name.split("_")[0]
    kill = subprocess.run(
        ["scancel", "--signal=KILL", f"{array}_1.0"], env=slurm, capture_output=True, text=True
    )
    assert kill.returncode == 0, kill.stderr
    out = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, out[-3000:] + _task_logs(tmp_path, array)
    assert f"worker {array}_1 ended" in out, out[-3000:]
    study = load(tmp_path)
    stale = [t for t in study.trials if t.state == TrialState.FAIL]
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    # the heartbeat's grace period, or the watcher seeing the task leave the queue: either
    # fails the trial and queues it again, whichever comes first
    reason = stale[0].user_attrs["fail_reason"] if len(stale) == 1 else ""
    assert reason.startswith(("stale", "interrupted: its worker ended")), stale
    assert len(complete) == 2  # exactly n_trials, one of them the killed trial's retry
    retry = next(t for t in complete if t.user_attrs.get("retry_of") == stale[0].number)
    assert retry.params == stale[0].params
    assert _parent_status(tmp_path) == "FINISHED"


CANNOT_START = {
    # the batch script's setup fails on the node: the task ends FAILED before any worker runs
    "setup fails": (
        "hydra.launcher.setup=['module load no-such-module/9 || exit 3']",
        "ended FAILED (exit 3:0): no result",
        1,
    ),
    # sbatch refuses the submission itself
    "refused": ("hydra.launcher.partition=nope", "invalid partition specified: nope", 2),
}


def test_a_request_no_node_can_meet_is_reported_and_cancelled(
    slurm, tmp_path, monkeypatch, capsys
) -> None:
    """More CPUs than any node has: Slurm accepts the array and would hold it pending forever
    (PartitionConfig). Submitted and watched directly (no sweep around it, to keep it short)."""
    from hydra_plugins.hydra_submitit_launcher.config import SlurmQueueConf
    from omegaconf import OmegaConf

    from cellsweep.sweep.workers.slurm import make_executor, submit_workers

    monkeypatch.setenv("SLURM_CONF", slurm["SLURM_CONF"])
    launcher = OmegaConf.to_container(OmegaConf.structured(SlurmQueueConf))
    launcher |= {
        "submitit_folder": str(tmp_path / ".submitit" / "%j"),
        "partition": "debug",
        "cpus_per_task": 64,
        "mem_gb": 1,
        "timeout_min": 5,
    }
    workers = submit_workers(make_executor(launcher, "slurm"), [sys.executable, "-V"], {}, 2)
    deadline = time.monotonic() + 120
    while any(w.poll() is None for w in workers) and time.monotonic() < deadline:
        time.sleep(0.5)
    out = capsys.readouterr().out
    assert [w.returncode for w in workers] == [1, 1], out
    array = _array(out)
    for task in (f"{array}_0", f"{array}_1"):
        line = f"worker {task} cannot start: Slurm holds it pending (PartitionConfig"
        assert out.count(line) == 1, out
    assert _wait_queue_empty(slurm, 60, array)  # cancelled, nothing left waiting
    assert set(_job_states(slurm, array)) == {"CANCELLED"}  # (a pending array is one record)


@pytest.mark.parametrize("case", sorted(CANNOT_START))
def test_a_worker_that_cannot_start_is_reported(slurm, tmp_path, case) -> None:
    override, expected, code = CANNOT_START[case]
    proc = subprocess.run(
        _argv(tmp_path, 2, 2, override), env=slurm, capture_output=True, text=True, timeout=300
    )
    both = proc.stdout + proc.stderr
    assert proc.returncode == code, both[-3000:]
    assert expected in both, both[-3000:]
    assert "Traceback" not in both, both[-3000:]
    assert len([ln for ln in both.splitlines() if "cellsweep-train:" in ln]) == 1, both
    if code == 1:  # submitted: each task reported once, then the sweep stops
        array = _array(proc.stdout)
        for task in (f"{array}_0", f"{array}_1"):
            assert proc.stdout.count(f"worker {task} ") == 1, proc.stdout
        assert "all 2 workers ended with 0 of 2 trials finished" in proc.stderr
        assert _wait_queue_empty(slurm, 60, array)  # nothing left waiting in the queue
    assert load(tmp_path).trials == []
    assert _parent_status(tmp_path) == "FAILED"  # not left RUNNING


def _wait_checkpoint(tmp: Path, proc: subprocess.Popen, epoch: int, timeout: float = 400):
    """The first RUNNING trial whose checkpoint holds at least ``epoch`` epochs."""
    journal = tmp / "sweeps" / "optuna.journal"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
        if journal.exists():
            for t in load(tmp).trials:
                mark = t.user_attrs.get("checkpoint")
                if t.state == TrialState.RUNNING and mark and mark["epoch"] >= epoch:
                    return t
    proc.kill()
    pytest.fail(f"no trial reached a checkpoint of epoch {epoch}: {proc.communicate()[0][-3000:]}")


def test_scontrol_requeue_mid_trial_resumes_from_the_checkpoint(slurm, tmp_path) -> None:
    """`scontrol requeue` of a task mid-trial: Slurm sends its worker SIGTERM, the worker fails
    the trial (Optuna and MLflow give the same reason) and queues it with its checkpoint; the
    other worker resumes it there, not at epoch 0. Once the study is complete the requeued
    task, pending in the queue, is cancelled instead of waited for."""
    epochs = 500
    argv = _argv(tmp_path, 2, epochs, "hydra.sweeper.checkpoint_every=2")
    proc = subprocess.Popen(
        argv, env=slurm, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    victim = _wait_checkpoint(tmp_path, proc, 40)
    task = victim.user_attrs["cluster_job"]
    requeue = subprocess.run(
        ["scontrol", "requeue", task], env=slurm, capture_output=True, text=True
    )
    assert requeue.returncode == 0, requeue.stderr
    out = proc.communicate(timeout=600)[0]
    array = task.split("_")[0]
    assert proc.returncode == 0, out[-3000:] + _task_logs(tmp_path, array)
    study = load(tmp_path)
    (failed,) = [t for t in study.trials if t.state == TrialState.FAIL]
    assert failed.number == victim.number
    assert failed.user_attrs["fail_reason"] == "interrupted: SIGTERM"
    retry = next(t for t in study.trials if t.user_attrs.get("retry_of") == failed.number)
    saved = failed.user_attrs["checkpoint"]["epoch"]
    assert retry.state == TrialState.COMPLETE and retry.user_attrs["resumed_at"] == saved >= 40
    assert retry.user_attrs["epochs"] == epochs
    assert sum(t.state == TrialState.COMPLETE for t in study.trials) == 2
    _, runs = mlflow_runs(tmp_path)
    (old,) = [r for r in runs if r.info.run_id == failed.user_attrs["mlflow_run_id"]]
    assert old.info.status == "FAILED"
    assert old.data.tags["cellsweep.fail_reason"] == failed.user_attrs["fail_reason"]
    (new,) = [r for r in runs if r.info.run_id == retry.user_attrs["mlflow_run_id"]]
    assert new.data.tags["cellsweep.resumed_from_run"] == old.info.run_id
    assert _parent_status(tmp_path) == "FINISHED"
    assert "cancelled 1 queued worker(s)" in out or task not in "".join(_queue(slurm, array))
    assert _wait_queue_empty(slurm, 60, array), _queue(slurm, array)


def test_a_time_limit_with_no_requeue_left_leaves_no_trial_running(slurm, tmp_path) -> None:
    """A 2-minute limit, Slurm's warning 30 s before it (Slurm may send it up to 60 s early:
    a 1-minute limit could signal a worker before it runs a trial) and no requeue allowed:
    each worker fails its trial (queued again with its checkpoint) before its task ends; the
    command stops (exit 1) with nothing RUNNING in Optuna or MLflow."""
    argv = _argv(
        tmp_path,
        2,
        100000,
        "hydra.sweeper.checkpoint_every=5",
        "hydra.launcher.timeout_min=2",
        "hydra.launcher.signal_delay_s=30",
        "hydra.launcher.max_num_timeout=0",
    )
    proc = subprocess.run(argv, env=slurm, capture_output=True, text=True, timeout=400)
    array = _array(proc.stdout)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "all 2 workers ended" in proc.stderr, proc.stderr[-3000:]
    study = load(tmp_path)
    assert not [t for t in study.trials if t.state == TrialState.RUNNING], _task_logs(
        tmp_path, array
    )
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert len(failed) == 2, _task_logs(tmp_path, array)
    assert all(t.user_attrs["fail_reason"].startswith("interrupted") for t in failed)
    # each is queued again with its checkpoint, for the next command to resume
    waiting = [t for t in study.trials if t.state == TrialState.WAITING]
    assert len(waiting) == 2 and all(t.user_attrs.get("resume_from") for t in waiting)
    _, runs = mlflow_runs(tmp_path)
    assert not [r for r in runs if r.info.status == "RUNNING"]


def test_a_signal_delay_past_the_time_limit_is_refused_before_submission(slurm, tmp_path) -> None:
    proc = subprocess.run(
        _argv(tmp_path, 2, 2, "hydra.launcher.timeout_min=1"),  # signal_delay_s=120 by default
        env=slurm,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "signal_delay_s=120 is not shorter than the time limit" in proc.stderr
    assert "submitted" not in proc.stdout and not (tmp_path / "sweeps" / "optuna.journal").exists()


@pytest.mark.long
def test_a_trial_longer_than_the_time_limit_finishes_after_requeues(slurm, tmp_path) -> None:
    """A 2-minute limit and a trial that needs more: at Slurm's warning the worker fails the
    trial (queued again with its checkpoint), submitit requeues the checkpointable task, and the
    next run of a task resumes the trial from its checkpoint. The trial's epochs are counted
    once and the study reaches n_trials."""
    epochs = 10000  # about 200 s of training here (2500 took 51 s under Slurm)
    argv = _argv(
        tmp_path,
        1,
        epochs,
        "hydra.sweeper.checkpoint_every=10",
        "hydra.launcher.timeout_min=2",
        "hydra.launcher.signal_delay_s=30",
        "hydra.launcher.max_num_timeout=3",
    )
    proc = subprocess.run(argv, env=slurm, capture_output=True, text=True, timeout=900)
    array = _array(proc.stdout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    study = load(tmp_path)
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert len(done) == 1 and failed, _task_logs(tmp_path, array)
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    assert all(t.user_attrs["fail_reason"].startswith("interrupted") for t in failed)
    (last,) = done
    assert last.user_attrs["epochs"] == epochs and last.user_attrs["resumed_at"] > 0
    # every interruption resumed where the checkpoint left it, never at epoch 0
    for t in study.trials[1:]:
        before = study.trials[t.user_attrs["retry_of"]]
        assert t.user_attrs.get("resumed_at") == before.user_attrs["checkpoint"]["epoch"]
    logs = "".join(p.read_text() for p in (tmp_path / "multirun" / ".submitit").rglob("*_log.out"))
    assert "worker stopped for requeue" in logs
    assert _parent_status(tmp_path) == "FINISHED"
    _, runs = mlflow_runs(tmp_path)
    assert not [r for r in runs if r.info.status == "RUNNING"]
