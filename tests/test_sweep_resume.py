"""Interrupted trials resume from their checkpoint; a dead launcher leaves no run RUNNING.

Unit tests of the study side (what a retry carries, the re-reported epochs, checkpoint clean-up)
run on an in-memory study; the slow ones kill real sweep processes with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from cellsweep.errors import ConfigError
from cellsweep.sweep.settings import SweepSettings
from cellsweep.sweep.study import attrs, record, resume
from helpers.sweep import load, mlflow_runs, sweep_command


def _study() -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(direction="minimize")


def test_an_interrupted_trial_is_queued_again_with_its_checkpoint(tmp_path) -> None:
    study = _study()
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    for epoch in range(10):
        trial.report(10.0 - epoch, epoch)
    ckpt = resume.checkpoint_file(tmp_path / "0", "my study/1", trial.number)
    assert ckpt == tmp_path / "0" / "checkpoints" / "my_study_1-trial0.ckpt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"state")
    trial.set_user_attr(attrs.CHECKPOINT, {"path": str(ckpt), "epoch": 6})
    trial.set_user_attr(attrs.RUN_ID, "run-0")
    record.fail_interrupted(study, trial, KeyboardInterrupt(), "SIGTERM")

    retry = study.ask()
    assert retry.suggest_float("x", 0, 1) == trial.params["x"]  # the same params
    assert retry.user_attrs[attrs.RETRY_OF] == trial.number
    got = resume.prepare(study, retry)
    assert got == resume.Resume(str(ckpt), 6, "run-0")
    # the pruner sees epochs 0-5 from the checkpoint's trial; the job reports 6 onwards
    frozen = study.get_trials(deepcopy=False)[retry.number]
    assert frozen.intermediate_values == {e: 10.0 - e for e in range(6)}
    assert frozen.user_attrs[attrs.RESUMED_AT] == 6

    study.tell(retry, 1.0)
    resume.remove_checkpoints(study.get_trials(deepcopy=False)[retry.number])
    assert not ckpt.exists()


def test_a_retry_of_a_retry_keeps_the_checkpoint_it_had_not_replaced(tmp_path) -> None:
    """A retry interrupted before its first checkpoint passes on the one it resumed from."""
    study = _study()
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    ckpt = tmp_path / "a.ckpt"
    ckpt.write_bytes(b"state")
    trial.set_user_attr(attrs.CHECKPOINT, {"path": str(ckpt), "epoch": 3})
    record.fail_interrupted(study, trial, KeyboardInterrupt(), "SIGTERM")
    retry = study.ask()
    resume.prepare(study, retry)
    record.fail_interrupted(study, retry, KeyboardInterrupt(), "SIGTERM")
    third = study.ask()
    assert third.user_attrs[attrs.RETRY_OF] == retry.number
    assert resume.prepare(study, third).epoch == 3


def test_a_checkpoint_whose_file_is_gone_is_a_fresh_start(tmp_path) -> None:
    study = _study()
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    trial.set_user_attr(attrs.CHECKPOINT, {"path": str(tmp_path / "gone.ckpt"), "epoch": 3})
    record.fail_interrupted(study, trial, KeyboardInterrupt(), "SIGTERM")
    retry = study.ask()
    assert attrs.RESUME_FROM not in retry.user_attrs
    assert resume.prepare(study, retry) == resume.FRESH


def test_checkpoint_every_is_checked() -> None:
    assert SweepSettings().checkpoint_every == 300.0
    with pytest.raises(ConfigError, match="checkpoint_every"):
        SweepSettings(checkpoint_every=-1)


def _wait(predicate, proc: subprocess.Popen, limit: float, what: str):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.3)
        found = predicate()
        if found:
            return found
    proc.kill()
    pytest.fail(f"{what}: " + (proc.stdout.read()[-2000:] if proc.stdout else ""))


def _running_with_checkpoint(tmp: Path, min_epoch: int):
    if not (tmp / "sweeps" / "optuna.journal").exists():
        return None
    for t in load(tmp).trials:
        mark = t.user_attrs.get(attrs.CHECKPOINT)
        if t.state == TrialState.RUNNING and mark and mark["epoch"] >= min_epoch:
            return t
    return None


GRACE = ("hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=4")
# pruning on (so intermediate values are reported), but never pruning these short studies
REPORTING = "hydra.sweeper.pruner={_target_:optuna.pruners.MedianPruner,n_warmup_steps:100000}"


@pytest.mark.slow
def test_kill_9_of_a_worker_mid_trial_resumes_from_its_checkpoint(tmp_path) -> None:
    """SIGKILL of the only worker mid-trial; the next command fails the stale trial and its
    retry goes on from the checkpoint's epoch, with the pruner's curve and a linked run."""
    epochs = 300
    argv = [
        *sweep_command(tmp_path, 1, epochs=epochs),
        "hydra.sweeper.checkpoint_every=1",
        REPORTING,
        *GRACE,
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait(lambda: _running_with_checkpoint(tmp_path, 20), proc, 600, "no checkpoint")
    proc.kill()  # SIGKILL: nothing runs in the worker any more
    proc.wait()
    killed = next(t for t in load(tmp_path).trials if t.state == TrialState.RUNNING)
    reached = max(killed.intermediate_values)
    saved = killed.user_attrs[attrs.CHECKPOINT]
    time.sleep(5)  # past grace_period: the next command takes the trial for stale

    again = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    study = load(tmp_path)
    retry = next(t for t in study.trials if t.user_attrs.get(attrs.RETRY_OF) == killed.number)
    assert retry.state == TrialState.COMPLETE and retry.params == killed.params
    assert retry.user_attrs[attrs.RESUMED_AT] == saved["epoch"] > 0
    assert retry.user_attrs[attrs.EPOCHS] == epochs  # the epochs counted once, in all
    lost = reached + 1 - saved["epoch"]
    assert 0 <= lost < reached, (reached, saved)
    # one curve for the pruner: every epoch once, those before the checkpoint copied over
    assert sorted(retry.intermediate_values) == list(range(epochs))
    before = killed.intermediate_values
    assert all(retry.intermediate_values[e] == before[e] for e in range(saved["epoch"]))
    assert not Path(saved["path"]).exists()  # the trial ended for good: its checkpoint goes

    client, runs = mlflow_runs(tmp_path)
    (new,) = [r for r in runs if r.data.tags.get("cellsweep.trial") == str(retry.number)]
    assert new.data.tags["cellsweep.resumed_from_run"] == killed.user_attrs[attrs.RUN_ID]
    assert new.data.tags["cellsweep.resumed_at_epoch"] == str(saved["epoch"])
    steps = [m.step for m in client.get_metric_history(new.info.run_id, "val/pred_err")]
    assert min(steps) == saved["epoch"] and max(steps) == epochs - 1
    (old,) = [r for r in runs if r.info.run_id == killed.user_attrs[attrs.RUN_ID]]
    assert old.info.status == "FAILED"
    parent = next(r for r in runs if r.data.tags.get("cellsweep.role") == "study")
    assert parent.info.status == "FINISHED" and "best_value" in parent.data.metrics


@pytest.mark.slow
def test_kill_9_of_the_launching_process_leaves_no_run_running(tmp_path) -> None:
    """The launcher dies; its orphaned worker finishes the study, then closes the parent run
    with best_value and writes optimization_results.yaml. The same command then spawns no
    worker for the complete study."""
    argv = [
        *sweep_command(tmp_path, 3, epochs=60),
        "hydra.sweeper.n_workers=2",
        "hydra.sweeper.checkpoint_every=0",
        *GRACE,
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def worker_started():
        children = subprocess.run(
            ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True
        ).stdout.split()
        journal = tmp_path / "sweeps" / "optuna.journal"
        if not children or not journal.exists():
            return None
        mine = f":{children[0]}"
        running = [t for t in load(tmp_path).trials if t.state == TrialState.RUNNING]
        return (
            children[0]
            if any(t.user_attrs.get("worker", "").endswith(mine) for t in running)
            else None
        )

    orphan = int(_wait(worker_started, proc, 600, "the worker never ran a trial"))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:  # the orphan finishes the study, then closes it
        try:
            os.kill(orphan, 0)
        except ProcessLookupError:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the orphaned worker never ended")
    study = load(tmp_path)
    assert sum(t.state == TrialState.COMPLETE for t in study.trials) == 3
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    _, runs = mlflow_runs(tmp_path)
    (parent,) = [r for r in runs if r.data.tags.get("cellsweep.role") == "study"]
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["best_value"] == pytest.approx(study.best_value)
    assert (tmp_path / "multirun" / "optimization_results.yaml").is_file()
    assert not [r for r in runs if r.info.status == "RUNNING"]

    again = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert "more worker" not in again.stdout  # a complete study spawns no worker
    assert len(load(tmp_path).trials) == len(study.trials)
