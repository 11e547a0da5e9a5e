"""How the Slurm watch reads a task's end (cellsweep.sweep.workers.squeue), without a scheduler.

The queue's answer is set by hand and the task's files are written as submitit writes them; the
real squeue/scancel path is tests/test_slurm.py. This runs everywhere, in a second.
"""

from __future__ import annotations

import pickle
import time
from pathlib import Path

from cellsweep.sweep.workers.squeue import SlurmArray, SlurmWorker


class Paths:
    def __init__(self, folder: Path, job_id: str) -> None:
        self.result_pickle = folder / f"{job_id}_0_result.pkl"
        self.stderr = folder / f"{job_id}_0_log.err"
        self.stdout = folder / f"{job_id}_0_log.out"


class Job:
    def __init__(self, folder: Path, job_id: str) -> None:
        self.job_id, self.paths, self.cancelled = job_id, Paths(folder, job_id), 0

    def cancel(self, check: bool = True) -> None:
        self.cancelled += 1


def _watch(tasks: dict[str, tuple[str, str]]) -> SlurmArray:
    array = SlurmArray("7", interval=3600.0)  # answered by hand: squeue is never called
    array._tasks, array._at = tasks, time.monotonic()
    return array


def test_a_queued_task_is_running_and_an_ended_one_reads_its_result(tmp_path, capsys) -> None:
    ok, bad, gone = Job(tmp_path, "7_0"), Job(tmp_path, "7_1"), Job(tmp_path, "7_2")
    array = _watch({"7_0": ("RUNNING", "None"), "7_1": ("PENDING", "Resources")})
    workers = [SlurmWorker(j, array) for j in (ok, bad, gone)]
    assert [w.poll() for w in workers[:2]] == [None, None]  # running, or waiting for a node
    gone.paths.stderr.write_text("Traceback ...\nValueError: bad storage URL\n")
    assert workers[2].poll() == 1  # left the queue without a result: killed, or never started
    out = capsys.readouterr().out
    assert out.count("worker 7_2 ended") == 1 and "no result" in out
    assert "ValueError: bad storage URL" in out and str(gone.paths.stderr) in out
    assert workers[2].poll() == 1 and capsys.readouterr().out == ""  # reported once

    array._tasks = {}
    with ok.paths.result_pickle.open("wb") as f:
        pickle.dump(("success", 0), f)
    with bad.paths.result_pickle.open("wb") as f:
        pickle.dump(("error", "Traceback ...\nRuntimeError: the sweep worker exited with 2"), f)
    assert workers[0].poll() == 0 and capsys.readouterr().out == ""  # a clean end is silent
    assert workers[1].poll() == 1
    assert "RuntimeError: the sweep worker exited with 2" in capsys.readouterr().out


def test_a_task_that_can_never_be_scheduled_is_cancelled_once(tmp_path, capsys) -> None:
    job = Job(tmp_path, "7_0")
    worker = SlurmWorker(job, _watch({"7_0": ("PENDING", "PartitionConfig")}))
    assert worker.poll() == 1 and worker.poll() == 1
    assert job.cancelled == 1
    assert capsys.readouterr().out.count("worker 7_0 cannot start") == 1
    worker.terminate()  # already ended: no second scancel
    assert job.cancelled == 1
