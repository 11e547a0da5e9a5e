"""Parallel workers on one study, and the heartbeat that retries a dead worker's trial."""

from __future__ import annotations

import os
import time
from collections import defaultdict
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from cellsweep.sweep.study.attrs import worker_id
from cellsweep.sweep.study.storage import make_storage
from helpers.run import run_train
from helpers.sweep import load, mlflow_runs, sweep_args


def _devices_by_worker(study: optuna.Study) -> dict[str, set[str]]:
    seen = defaultdict(set)
    for t in study.trials:
        seen[t.user_attrs["worker"]].add(t.user_attrs.get("cuda_visible_devices"))
    return dict(seen)


@pytest.mark.slow  # test_sweep_engine has two workers of one study side by side, in seconds
def test_two_workers_share_one_study_without_overshoot(tmp_path, capsys, monkeypatch) -> None:
    # two stand-in GPUs (nvidia-smi lists 0 and 1, torch here is CPU-only): one for each worker
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    stand_in = Path(__file__).parent / "stand_in_gpus"
    monkeypatch.setenv("PATH", f"{stand_in}{os.pathsep}{os.environ['PATH']}")
    code, out, err = run_train(
        sweep_args(tmp_path, 4, "hydra.sweeper.n_workers=2", "trainer.max_epochs=2"), capsys
    )
    assert code == 0, err
    study = load(tmp_path)
    numbers = [t.number for t in study.trials]
    assert sorted(numbers) == [0, 1, 2, 3]  # exactly n_trials, no duplicates, no overshoot
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    # both workers build the seeded sampler of the same command: still no repeated draw
    # (on a loaded machine the second may join late: test_sweep_engine asks side by side)
    drawn = [tuple(sorted(t.params.items())) for t in study.trials]
    assert len(set(drawn)) == 4, drawn
    client, runs = mlflow_runs(tmp_path)
    parents = [r for r in runs if r.data.tags.get("cellsweep.role") == "study"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == 4
    # named after the study for the optuna-dashboard, and the MLflow UI's runs table
    assert study.metric_names == ["val/pred_err"]
    exp = client.get_experiment(parents[0].info.experiment_id)
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    # named by their number first (the UI cuts long names), then the searched params
    assert sorted(c.info.run_name.split(" ")[0] for c in children) == [f"#0{i}" for i in range(4)]
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    for c in children:  # every epoch of every trial reached the store
        assert len(client.get_metric_history(c.info.run_id, "val/loss")) == 2
    assert "starting 1 more worker" in out
    assert "workers 0-1 on CUDA_VISIBLE_DEVICES=0,1" in out
    devices = _devices_by_worker(study)  # (on a loaded machine one worker may take them all)
    assert devices.pop(worker_id()) == {"0"}, devices  # this process is worker 0
    assert all(d == {"1"} for d in devices.values()), devices


@pytest.mark.slow
def test_stale_running_trial_is_failed_and_retried(tmp_path, capsys) -> None:
    """A trial left RUNNING by a killed worker (no heartbeat) is failed and queued again."""
    storage = make_storage(None, tmp_path / "sweeps" / "optuna.journal")
    study = optuna.create_study(study_name="t-window", storage=storage)
    dead = study.ask()
    dead.suggest_categorical("task.window_steps", [10, 20, 50, 100])
    dead.set_user_attr("heartbeat", time.time() - 3600)
    args = sweep_args(tmp_path, 2, "hydra.sweeper.grace_period=5", "tracking=none")
    code, _, err = run_train(args, capsys)
    assert code == 0, err
    study = load(tmp_path)
    first = study.trials[0]
    assert first.state == TrialState.FAIL and "stale" in first.user_attrs["fail_reason"]
    retry = next(t for t in study.trials if t.user_attrs.get("retry_of") == 0)
    assert retry.state == TrialState.COMPLETE
    assert retry.params["task.window_steps"] == first.params["task.window_steps"]
    finished = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(finished) == 2  # the study still reaches n_trials


@pytest.mark.slow
def test_four_workers_on_the_embedded_stores_lose_nothing(tmp_path, capfd, monkeypatch) -> None:
    """Four processes on one journal file and one SQLite MLflow store: no 'database is locked'
    loses a trial or a metric. With two GPUs chosen by the user (stand-ins: torch here is
    CPU-only), the four workers see one each, round-robin."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    code, out, err = run_train(
        sweep_args(tmp_path, 8, "hydra.sweeper.n_workers=4", "trainer.max_epochs=3"), capfd
    )
    assert code == 0, err
    assert "database is locked" not in out + err
    study = load(tmp_path)
    assert sorted(t.number for t in study.trials) == list(range(8))
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    client, runs = mlflow_runs(tmp_path)
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(children) == 8
    for c in children:
        for key in ("train/loss", "val/loss", "val/pred_err"):
            assert len(client.get_metric_history(c.info.run_id, key)) == 3, (key, c.info.run_id)
    assert "starting 3 more worker" in out
    assert "workers 0-3 on CUDA_VISIBLE_DEVICES=3,5,3,5" in out
    devices = _devices_by_worker(study)
    assert devices.pop(worker_id()) == {"3"}, devices  # this process is worker 0
    assert all(d in ({"3"}, {"5"}) for d in devices.values()), devices  # one device each
