"""DESIGN.md §3a's proof: a workload that lives outside the package (tests/workloads/logistic) runs
as a single run and as a sweep, logged to MLflow, with no edit to train.py, sweep/ or tracking/.

The workload is one module on ``sys.path`` (PYTHONPATH on a command line) and one conf folder on
``hydra.searchpath``; everything the runs write goes under tmp_path.
"""

from __future__ import annotations

import sys
from pathlib import Path

import optuna
import pytest

from cellsweep.errors import ConfigError
from cellsweep.sweep.study.storage import make_storage
from cellsweep.tasks.base import Workload, resolve_workload
from helpers.run import experiment_runs, mlflow_client, run_train, store_overrides

HERE = Path(__file__).resolve().parent / "workloads" / "logistic"


@pytest.fixture
def logistic(monkeypatch) -> list[str]:
    """The workload importable (and no bytecode written beside it); its conf on the search path."""
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("PYTHONPATH", str(HERE))  # for any worker process the sweep starts
    return ["experiment=logistic/fit", f"hydra.searchpath=[file://{HERE / 'conf'}]"]


def _runs(tmp: Path):
    client = mlflow_client(tmp)
    return client, experiment_runs(client, "cellsweep-logistic")


def test_the_module_satisfies_the_contract(logistic) -> None:
    workload = resolve_workload("logistic_growth")
    assert isinstance(workload, Workload)
    with pytest.raises(ConfigError, match=r"task\.sim\.n0"):
        workload.check(task={"sim": {"n0": 200.0, "K": 100.0}}, model={})
    with pytest.raises(ConfigError, match="model"):
        workload.check(task={}, model={"lr": -1.0})


def test_single_run_fits_r_and_K_and_is_logged(logistic, tmp_path, capsys) -> None:
    code, out, err = run_train([*logistic, *store_overrides(tmp_path, shared_cache=False)], capsys)
    assert code == 0, err
    client, runs = _runs(tmp_path)
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.params["task._target_"] == "logistic_growth"
    assert run.data.params["derived.n_val_points"] == "10"
    m = run.data.metrics
    assert m["val/r_rel_err"] < 0.1 and m["val/K_rel_err"] < 0.05  # truth r = 1.2, K = 100
    assert abs(m["final/r"] - 1.2) < 0.12
    assert [h.step for h in client.get_metric_history(run.info.run_id, "val/loss")] == list(
        range(8)
    )
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"fit.png", "fit.csv", "config.yaml", "model.pt"} <= names
    assert list((tmp_path / "cache" / "logistic").glob("sim-*.npz"))  # the shared cache
    assert "truth 1.2" in out


def test_two_trial_sweep_logs_a_parent_and_two_children(logistic, tmp_path, capsys) -> None:
    args = [
        "-m",
        *logistic,
        "sweep=logistic/lr",
        *store_overrides(tmp_path),
        f"paths.sweeps_dir={tmp_path / 'sweeps'}",
        f"hydra.sweep.dir={tmp_path / 'multirun'}",
        "hydra.sweeper.study_name=t-logistic",
        "trainer.max_epochs=3",
    ]
    code, out, err = run_train(args, capsys)
    assert code == 0, err
    study = optuna.load_study(
        study_name="t-logistic",
        storage=make_storage(None, tmp_path / "sweeps" / "optuna.journal"),
    )
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    _, runs = _runs(tmp_path)
    parents = [r for r in runs if r.data.tags.get("cellsweep.role") == "study"]
    children = {r.data.tags["cellsweep.trial"]: r for r in runs if "cellsweep.trial" in r.data.tags}
    assert len(parents) == 1 and sorted(children) == ["0", "1"]
    for trial in study.trials:  # each child is its trial: the drawn lr and the returned value
        child = children[str(trial.number)]
        assert child.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert float(child.data.params["model.lr"]) == pytest.approx(trial.params["model.lr"])
        assert child.data.metrics["val/loss"] == pytest.approx(trial.value)
    assert "done 2/2" in out
