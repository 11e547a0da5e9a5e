"""``hydra/launcher=slurm``: workers as one Slurm job array, through Hydra's submitit launcher.

No cluster here, so tests/fake_slurm stands in for sbatch, srun, scancel and sacct: sbatch keeps
the submission file and runs each array task as a local process with the SLURM_* variables a
real task gets. Everything above it (submitit's submission file, its pickles, the job
environment, the workers, the study) is the real code path.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from test_sweep_e2e import load, mlflow_runs
from test_sweep_faults import sweep_command

FAKE = Path(__file__).parent / "fake_slurm"
PLANTED = "planted-secret-4f1c"  # in the submitting shell's environment only


def _env(tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{FAKE}{os.pathsep}{os.environ['PATH']}",
        "FAKE_SLURM_DIR": str(tmp / "slurm"),
        "CELLSWEEP_TEST_PLANTED": PLANTED,
    }


def _argv(tmp: Path, n_trials: int, epochs: int) -> list[str]:
    return [
        *sweep_command(tmp, n_trials, epochs),
        "hydra/launcher=slurm",
        "hydra.launcher.partition=debug",
        "hydra.launcher.cpus_per_task=1",
        "hydra.sweeper.n_workers=2",
    ]


def _task_logs(tmp: Path) -> str:
    """The end of each array task's log, for a failure message."""
    logs = sorted((tmp / "multirun" / ".submitit").glob("4242_*/4242_*_0_log.*"))
    return "\n".join(f"== {p.name}\n" + p.read_text()[-1500:] for p in logs)


@pytest.mark.slow
def test_slurm_array_of_workers_runs_the_study(tmp_path) -> None:
    proc = subprocess.run(
        _argv(tmp_path, 4, epochs=4),
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "submitted 2 worker(s) as job array 4242" in proc.stdout
    script = (tmp_path / "slurm" / "job.sh").read_text()
    for line in ("--array=0-1%2", "--partition=debug", "--cpus-per-task=1", "--time=720"):
        assert f"#SBATCH {line}" in script, script
    assert "srun" in script and "submitit.core._submit" in script

    study = load(tmp_path)
    assert [t.state for t in study.trials].count(TrialState.COMPLETE) == 4
    assert len(study.trials) == 4
    workers = {t.user_attrs["worker"] for t in study.trials}
    parent = f"{socket.gethostname()}:"
    assert len(workers) == 2  # both array tasks pulled trials ...
    assert all(w.startswith(parent) for w in workers)  # (same host here)
    _, runs = mlflow_runs(tmp_path)
    parents = [r for r in runs if r.data.tags.get("cellsweep.role") == "study"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == 4
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    # ... and the submitting command ran none: each task's log shows its own trials
    logs = sorted((tmp_path / "multirun" / ".submitit").glob("4242_*/4242_*_0_log.out"))
    assert len(logs) == 2
    assert sum(t.count("[trial ") for t in (p.read_text() for p in logs)) == 4
    assert "[trial " not in proc.stdout
    # only cellsweep's own variables travel in the job pickles, not the submitting environment
    for path in (tmp_path / "multirun" / ".submitit").rglob("*"):
        if path.is_file():
            assert PLANTED.encode() not in path.read_bytes(), path


@pytest.mark.slow
def test_ctrl_c_of_the_submitting_command_cancels_the_array(tmp_path) -> None:
    proc = subprocess.Popen(
        _argv(tmp_path, 6, epochs=200),
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    journal = tmp_path / "sweeps" / "optuna.journal"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if journal.exists():
            running = [t for t in load(tmp_path).trials if t.state == TrialState.RUNNING]
            if len(running) == 2 and all("mlflow_run_id" in t.user_attrs for t in running):
                break
    else:
        proc.kill()
        pytest.fail("the array never ran two trials")
    proc.send_signal(signal.SIGINT)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode != 0, out[-2000:]
    assert "Traceback" not in out, out[-3000:]
    cancelled = (tmp_path / "slurm" / "scancel.log").read_text().split()
    assert sorted(cancelled) == ["4242_0", "4242_1"]  # each task once
    # the workers got SIGTERM from scancel: their trials end FAIL and are queued again
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        trials = load(tmp_path).trials
        if not [t for t in trials if t.state == TrialState.RUNNING]:
            break
        time.sleep(0.5)
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert not [t for t in trials if t.state == TrialState.RUNNING], _task_logs(tmp_path)
    assert len(failed) == 2 and all("interrupted" in t.user_attrs["fail_reason"] for t in failed)
    _, runs = mlflow_runs(tmp_path)
    parent = next(r for r in runs if r.data.tags.get("cellsweep.role") == "study")
    assert parent.info.status == "KILLED"
