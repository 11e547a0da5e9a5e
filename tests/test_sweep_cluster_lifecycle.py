"""A worker's life on a cluster, without a scheduler: the checkpointable worker command, the
signal delay checked before submission, a requeued task cancelled once the study is done, and
the trials of a worker that ended failed at once (the real Slurm path: tests/test_slurm.py)."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

from cellsweep.errors import ConfigError
from cellsweep.sweep.study import attrs
from cellsweep.sweep.workers import slurm
from cellsweep.sweep.workers.squeue import SlurmWorker
from cellsweep.sweep.workers.watch import InterruptWatch, ended_workers_trials, settle_workers
from test_sweep_slurm_watch import Job, _watch


@pytest.mark.parametrize(
    ("delay", "limit", "refused"), [(120, 1, True), (60, 1, True), (20, 1, False), (None, 1, False)]
)
def test_a_signal_delay_not_shorter_than_the_time_limit_is_refused(delay, limit, refused) -> None:
    launcher = {"signal_delay_s": delay, "timeout_min": limit}
    if refused:
        with pytest.raises(ConfigError, match=r"signal_delay_s=.* not shorter than the time limit"):
            slurm.check_signal_delay(launcher)
    else:
        slurm.check_signal_delay(launcher)
    assert slurm.stop_window({"signal_delay_s": 120}) == 110.0
    assert slurm.stop_window({"signal_delay_s": 8}) == 5.0


def test_the_worker_command_is_checkpointable(tmp_path) -> None:
    """submitit's checkpoint(): the worker gets SIGTERM, is waited for while it records its
    trial, and the same command comes back to be requeued; no process travels in the pickle."""
    marker = tmp_path / "stopped"
    child = (
        "import signal, sys, time, pathlib\n"
        f"def stop(*_):\n    pathlib.Path({str(marker)!r}).write_text('trial recorded')\n"
        "    sys.exit(3)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        f"pathlib.Path({str(tmp_path / 'ready')!r}).touch()\n"
        "time.sleep(60)\n"
    )
    command = slurm.WorkerCommand([sys.executable, "-c", child], {"A": "1"}, str(tmp_path), 20)
    command._proc = subprocess.Popen(command.argv, cwd=command.cwd)
    deadline = time.monotonic() + 30
    while not (tmp_path / "ready").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    again = command.checkpoint()
    assert marker.read_text() == "trial recorded" and command._proc.returncode == 3
    requeued = again.function
    assert isinstance(requeued, slurm.WorkerCommand) and requeued is not command
    assert (requeued.argv, requeued.env, requeued.cwd) == (command.argv, {"A": "1"}, command.cwd)
    assert pickle.loads(pickle.dumps(command))._proc is None


def test_the_worker_command_reports_a_failed_worker(tmp_path) -> None:
    with pytest.raises(RuntimeError, match="exited with code 4"):
        slurm.WorkerCommand([sys.executable, "-c", "raise SystemExit(4)"], {}, str(tmp_path))()
    assert slurm.WorkerCommand([sys.executable, "-c", "pass"], {}, str(tmp_path))() == 0


def test_slurms_warning_signal_interrupts_like_sigterm() -> None:
    with InterruptWatch() as watch, pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGUSR2)
        time.sleep(1)
    assert watch.interrupted and watch.signal == "SIGUSR2"
    assert signal.getsignal(signal.SIGUSR2) is signal.SIG_DFL  # put back


def test_a_requeued_task_is_cancelled_once_the_study_is_done(tmp_path, capsys) -> None:
    pending, running = Job(tmp_path, "7_0"), Job(tmp_path, "7_1")
    array = _watch({"7_0": ("PENDING", "BeginTime"), "7_1": ("RUNNING", "None")})
    workers = [SlurmWorker(pending, array), SlurmWorker(running, array)]
    array._tasks = {"7_1": ("RUNNING", "None"), "7_0": ("PENDING", "BeginTime")}
    start = time.monotonic()
    settle_workers(workers, patience=0.5)  # the running one never ends here: cancelled too
    assert time.monotonic() - start < 5
    assert pending.cancelled == 1 and running.cancelled == 1
    out = capsys.readouterr().out
    assert "cancelled 1 queued worker(s)" in out and "ended" not in out
    assert workers[0].returncode == 0


class Ended:
    """A local worker process that has exited."""

    def __init__(self, pid: int, code: int = -9) -> None:
        self.pid, self.returncode = pid, code

    def poll(self) -> int:
        return self.returncode


def test_the_running_trials_of_an_ended_worker_are_found(tmp_path) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    dead, alive, task = study.ask(), study.ask(), study.ask()
    dead.set_user_attr(attrs.WORKER, attrs.worker_id(4242))
    alive.set_user_attr(attrs.WORKER, attrs.worker_id(4343))
    task.set_user_attr(attrs.JOB, "7_0")
    array = _watch({})  # 7_0 left the queue: its time limit came with no requeue left
    gone_task = SlurmWorker(Job(tmp_path, "7_0"), array)
    found = ended_workers_trials(study, [Ended(4242), gone_task])
    assert sorted(t.number for t in found) == [dead.number, task.number]
    assert all(t.state == TrialState.RUNNING for t in found)
