"""Faults on the embedded stores: Ctrl-C of a sweep, and resuming it without losing a trial.

The interrupted trial is failed cleanly (not left RUNNING), does not count toward
``max_failure_rate``, and is the first one the resumed sweep runs again."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import pytest
from optuna.trial import TrialState

from helpers.sweep import load, mlflow_runs, sweep_command


@pytest.mark.slow
def test_ctrl_c_fails_the_running_trial_kills_the_parent_and_resumes(tmp_path) -> None:
    # 3 seconds-long trials: the signal lands in one after the first, which the resume runs again
    argv = sweep_command(tmp_path, 3, epochs=150)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    journal = tmp_path / "sweeps" / "optuna.journal"
    deadline = time.monotonic() + 900  # a loaded 2-core machine took > 300 s to get there
    while time.monotonic() < deadline:  # wait until one trial is done and the next one runs
        time.sleep(0.5)
        if journal.exists():
            study = load(tmp_path)
            states = [t.state for t in study.trials]
            last = study.trials[-1] if study.trials else None
            if (
                TrialState.COMPLETE in states
                and states[-1] == TrialState.RUNNING
                and "mlflow_run_id" in last.user_attrs  # inside its MLflow run, not before it
            ):
                break
    else:
        proc.kill()
        pytest.fail("the sweep never reached a second trial")
    proc.send_signal(signal.SIGINT)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)  # pressed twice: the second must not break the cleanup
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode != 0, out[-2000:]
    assert "Traceback" not in out, out[-3000:]
    study = load(tmp_path)
    done_before = {t.number for t in study.trials if t.state == TrialState.COMPLETE}
    interrupted = [t for t in study.trials if t.state == TrialState.FAIL]
    assert len(interrupted) == 1 and "interrupted" in interrupted[0].user_attrs["fail_reason"]
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    _, runs = mlflow_runs(tmp_path)
    parent = next(r for r in runs if r.data.tags.get("cellsweep.role") == "study")
    assert parent.info.status == "KILLED"
    child = next(
        r
        for r in runs
        if r.data.tags.get("cellsweep.trial") == str(interrupted[0].number)
        and "mlflow.parentRunId" in r.data.tags
    )
    assert child.info.status in ("KILLED", "FAILED")

    # the same command resumes: completed trials stay, the total reaches n_trials
    again = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=os.environ)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    study = load(tmp_path)
    complete = {t.number for t in study.trials if t.state == TrialState.COMPLETE}
    assert done_before <= complete
    assert len(complete) == 3 and len(study.trials) == 4  # nothing lost, nothing run twice
    retry = next(t for t in study.trials if t.user_attrs.get("retry_of") == interrupted[0].number)
    assert retry.state == TrialState.COMPLETE and retry.params == interrupted[0].params
    _, runs = mlflow_runs(tmp_path)
    parents = [r for r in runs if r.data.tags.get("cellsweep.role") == "study"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"


@pytest.mark.slow
def test_kill_9_of_a_worker_mid_trial_is_retried_and_its_run_ends_failed(tmp_path) -> None:
    """A worker killed with SIGKILL leaves its trial RUNNING. The surviving worker's heartbeat
    thread fails it (and its MLflow run) within grace_period + heartbeat_interval while the
    survivor's own trial is still running, queues its parameters again, and the study still
    reaches n_trials."""
    grace, beat = 4.0, 1.0
    argv = [
        # trials far longer than grace + beat, or the stale trial is failed between two of the
        # survivor's trials: 250 epochs took 3.6-5.5 s on a fast 2-core machine, 600 take 9-13 s
        *sweep_command(tmp_path, 4, epochs=600),
        "hydra.sweeper.n_workers=2",
        f"hydra.sweeper.heartbeat_interval={beat}",
        f"hydra.sweeper.grace_period={grace}",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    survivor = f"{socket.gethostname()}:{proc.pid}"  # the parent process also runs trials
    journal = tmp_path / "sweeps" / "optuna.journal"
    victim, first = None, None
    deadline = time.monotonic() + 400
    while victim is None and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        children = subprocess.run(
            ["pgrep", "-f", "-P", str(proc.pid), "cellsweep.train"], capture_output=True, text=True
        ).stdout.split()
        if not children or not journal.exists():
            continue
        running = [
            t
            for t in load(tmp_path).trials
            if t.state == TrialState.RUNNING and "mlflow_run_id" in t.user_attrs
        ]
        mine = [t.number for t in running if t.user_attrs.get("worker") == survivor]
        theirs = [t for t in running if t.user_attrs.get("worker") != survivor]
        if mine and theirs:
            # kill once the survivor has just begun a trial: it runs far past grace + beat
            if first is None:
                first = mine[0]
            elif mine[0] != first:
                victim = int(children[0])
    if victim is None:
        proc.kill()
        pytest.fail("the two workers never ran trials side by side: " + proc.stdout.read()[-2000:])
    os.kill(victim, signal.SIGKILL)
    out = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, out[-3000:]
    study = load(tmp_path)
    stale = [t for t in study.trials if "stale" in str(t.user_attrs.get("fail_reason", ""))]
    assert len(stale) == 1
    zombie = stale[0]
    failed_at = zombie.datetime_complete.timestamp()
    late = failed_at - float(zombie.user_attrs["heartbeat"])
    assert late <= grace + beat + 3.0, late  # 3 s of slack for a loaded CI machine
    assert zombie.user_attrs["failed_by"] == survivor
    assert any(  # failed while one of the survivor's trials ran, not after it
        t.user_attrs.get("worker") == survivor
        and t.datetime_start.timestamp() < failed_at < t.datetime_complete.timestamp()
        for t in study.trials
        if t.datetime_complete is not None and t.number != zombie.number
    ), [(t.number, t.datetime_start, t.datetime_complete, failed_at) for t in study.trials]
    retry = next(t for t in study.trials if t.user_attrs.get("retry_of") == zombie.number)
    assert retry.state == TrialState.COMPLETE and retry.params == zombie.params
    assert sum(t.state == TrialState.COMPLETE for t in study.trials) == 4
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    _, runs = mlflow_runs(tmp_path)
    killed = [r for r in runs if r.data.tags.get("cellsweep.trial") == str(zombie.number)]
    assert killed and all(r.info.status == "FAILED" for r in killed)
