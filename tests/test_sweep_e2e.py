"""`cellsweep-train -m sweep=...`: a real study over the chemotaxis task, logged to MLflow."""

from __future__ import annotations

import math

import optuna
import pytest

from cellsweep.threads import given_cores
from helpers.run import TINY, run_train, store_overrides
from helpers.sweep import load, mlflow_runs, sweep_args


@pytest.mark.slow
def test_sweep_runs_trials_logs_children_and_resumes(tmp_path, capsys) -> None:
    code, out, err = run_train(sweep_args(tmp_path, 3), capsys)
    assert code == 0, err
    study = load(tmp_path)
    assert len(study.trials) == 3
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert [t.user_attrs["epochs"] for t in study.trials] == [3, 3, 3]
    assert "done 3/3" in out
    client, runs = mlflow_runs(tmp_path)
    parents = [r for r in runs if r.data.tags.get("cellsweep.role") == "study"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 3
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert sorted(int(c.data.tags["cellsweep.trial"]) for c in children) == [0, 1, 2]
    assert {c.data.tags["cellsweep.trial_state"] for c in children} == {"COMPLETE"}
    for c in children:  # every epoch's metric is there
        assert len(client.get_metric_history(c.info.run_id, "val/pred_err")) == 3
    best = study.best_trial
    assert parent.data.tags["cellsweep.best_run_id"] == best.user_attrs["mlflow_run_id"]
    assert math.isclose(parent.data.metrics["best_value"], best.value, rel_tol=1e-9)
    names = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {
        "optimization_history.png",
        "parallel_coordinates.png",
        "param_importances.png",
        "objective_vs_task.window_steps.png",
        "study_summary.json",
    } <= names
    if given_cores() > 1:  # the figure process had a core (engine._spare_core): it drew them
        assert "drawing here" not in out + err  # ...and the in-process fallback did not

    # the same command with a larger n_trials resumes the same study and the same parent run
    code, out, err = run_train(sweep_args(tmp_path, 5), capsys)
    assert code == 0, err
    study = load(tmp_path)
    assert [t.number for t in study.trials] == [0, 1, 2, 3, 4]
    # the rerun's seeded sampler does not replay the first run's draws
    drawn = [tuple(sorted(t.params.items())) for t in study.trials]
    assert len(set(drawn)) == 5, drawn
    _, runs = mlflow_runs(tmp_path)
    assert len([r for r in runs if r.data.tags.get("cellsweep.role") == "study"]) == 1
    assert len([r for r in runs if "mlflow.parentRunId" in r.data.tags]) == 5


@pytest.mark.slow
def test_failing_and_nan_trials_fail_alone(tmp_path, capsys) -> None:
    """A trial whose sampled config is invalid, or whose objective is NaN, fails; others go on."""
    # window 100000 steps is longer than the simulation: that trial raises a ConfigError;
    # a learning rate of 1e6 makes the loss overflow to inf/NaN.
    args = sweep_args(
        tmp_path,
        4,
        "model.depth=2",
        "model.width=8",
        "model.activation=tanh",
        "task.loss.order=2",
        "task.window_steps=choice(100,100000)",
        "task.optim.lr=choice(1e-3,1e30)",
        "hydra.sweeper.max_failure_rate=1.0",
        "hydra.sweeper.sampler._target_=optuna.samplers.BruteForceSampler",
    )
    code, _, err = run_train(args, capsys)
    assert code == 0, err
    study = load(tmp_path)
    states = {t.number: t.state for t in study.trials}
    assert list(states.values()).count(optuna.trial.TrialState.COMPLETE) == 1
    failed = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert len(failed) == 3
    reasons = " ".join(t.user_attrs["fail_reason"] for t in failed)
    assert "window" in reasons
    _, runs = mlflow_runs(tmp_path)
    child_states = {
        r.data.tags.get("cellsweep.trial_state")
        for r in runs
        if "mlflow.parentRunId" in r.data.tags
    }
    assert "FAIL" in child_states
    assert all(
        r.info.status == "FAILED"
        for r in runs
        if r.data.tags.get("cellsweep.trial_state") == "FAIL"
    )


def test_failure_rate_stops_the_sweep(tmp_path, capsys) -> None:
    args = sweep_args(
        tmp_path,
        5,
        "task.optim.lr=choice(1e30)",  # the loss overflows: every trial's objective is NaN
        "hydra.sweeper.max_failure_rate=0.0",
        "tracking=none",
    )
    code, _, err = run_train(args, capsys)
    assert code != 0
    assert "max_failure_rate" in err
    assert len(load(tmp_path).trials) == 1  # stopped after the first failure


def test_direction_mismatch_with_stored_study_is_exit_2(tmp_path, capsys) -> None:
    args = sweep_args(tmp_path, 1, "tracking=none", "trainer.max_epochs=1")
    assert run_train(args, capsys)[0] == 0
    code, _, err = run_train([*args, "hydra.sweeper.direction=maximize"], capsys)
    assert code == 2
    assert "direction" in err and len(err.strip().splitlines()) == 1


def test_out_of_memory_trial_fails_alone(tmp_path, capsys) -> None:
    """A sampled width whose weights cannot be allocated (a real CPU out-of-memory error, not a
    mock) fails that trial with the allocator's reason; the other trial completes."""
    args = [
        "-m",
        "sweep=chemotaxis/window",
        *TINY,
        *store_overrides(tmp_path),
        f"paths.sweeps_dir={tmp_path / 'sweeps'}",
        f"hydra.sweep.dir={tmp_path / 'multirun'}",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.study_name=t-window",
        "model.depth=2",
        "model.width=choice(8,4000000)",  # 4e6 x 4e6 float32 weights: 64 TB
        "model.activation=tanh",
        "task.loss.order=2",
        "task.optim.lr=1e-3",
        "task.window_steps=20",
        "trainer.max_epochs=2",
        "hydra.sweeper.max_failure_rate=1.0",
        "hydra.sweeper.sampler._target_=optuna.samplers.BruteForceSampler",
        "tracking=none",
    ]
    code, _, err = run_train(args, capsys)
    assert code == 0, err
    trials = {t.params["model.width"]: t for t in load(tmp_path).trials}
    assert set(trials) == {8, 4000000}
    assert trials[8].state == optuna.trial.TrialState.COMPLETE
    assert trials[4000000].state == optuna.trial.TrialState.FAIL
    assert "allocate" in trials[4000000].user_attrs["fail_reason"]
