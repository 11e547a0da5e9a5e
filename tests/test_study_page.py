"""The MLflow parent run is the study's page; each trial's child run says what it came to."""

from __future__ import annotations

import math
import shlex

import optuna
import pytest

from cellsweep.tracking.page import description, view_state
from cellsweep.tracking.trials import trial_run_name
from helpers.run import run_train
from helpers.sweep import load, mlflow_runs, sweep_args


def test_a_trial_is_named_by_its_number_then_its_searched_params() -> None:
    name = trial_run_name(
        5, {"task.window_steps": 100, "task.loss.order": 2, "task.optim.lr": 0.0038}
    )
    assert name == "#05 window_steps=100 order=2 lr=3.8e-03"
    assert trial_run_name(12, {"x": 0.25}) == "#12 x=0.25"


def test_the_description_holds_best_top_counts_reasons_adopt_and_plots() -> None:
    summary = {
        "study_name": "s",
        "objectives": ["val/pred_err"],
        "states": {"COMPLETE": 2, "PRUNED": 1, "FAIL": 1, "RUNNING": 0},
        "best_value": 0.5,
        "best_trial": 3,
        "best_params": {"task.window_steps": 10},
        "best_run_id": "r3",
        "top": [
            {"number": 3, "values": [0.5], "params": {"task.window_steps": 10}, "run_id": "r3"},
            {"number": 0, "values": [0.7], "params": {"task.window_steps": 20}, "run_id": "r0"},
        ],
        "pruned": [{"number": 1, "reason": "pruned at epoch 2 with val/pred_err=1.1"}],
        "failed": [{"number": 2, "reason": "FloatingPointError: objective val/pred_err is nan"}],
        "adopt": ["cellsweep", "adopt", "s"],
    }
    text = description(summary, "1", "parent", ["optimization_history.png"], final=True)
    assert "**Best: [trial #3](#/experiments/1/runs/r3" in text
    assert "val/pred_err = **0.5**" in text
    assert "| [#0](#/experiments/1/runs/r0" in text  # the top table links each run
    assert "2 complete, 1 pruned, 1 failed" in text
    assert "pruned at epoch 2" in text and "objective val/pred_err is nan" in text
    assert "cellsweep adopt s" in text
    assert "![optimization_history.png](get-artifact?path=optimization_history.png" in text
    state = view_state("parent", ["val/pred_err"], ["minimize"], ["task.window_steps"])
    assert state["orderByKey"] == "metrics.`val/pred_err`" and state["orderByAsc"] is True
    assert "params.`task.window_steps`" in state["selectedColumns"]


@pytest.mark.slow
def test_parent_page_children_states_best_tag_and_rerun_command(tmp_path, capsys) -> None:
    args = sweep_args(
        tmp_path,
        4,
        "task.window_steps=choice(10,20)",
        "task.optim.lr=choice(1e-3,1e30)",  # 1e30: the loss overflows, the trial fails
        "trainer.max_epochs=3",
        "hydra.sweeper.max_failure_rate=1.0",
        "hydra.sweeper.sampler._target_=optuna.samplers.BruteForceSampler",
        "hydra.sweeper.pruner={_target_: optuna.pruners.MedianPruner,"
        " n_startup_trials: 1, n_warmup_steps: 0}",
    )
    code, out, err = run_train(args, capsys)
    assert code == 0, err
    study = load(tmp_path)
    states = {t.number: t.state for t in study.trials}
    _, runs = mlflow_runs(tmp_path)
    (parent,) = [r for r in runs if r.data.tags.get("cellsweep.role") == "study"]
    children = {int(r.data.tags["cellsweep.trial"]): r for r in runs if r is not parent}
    # the parent: what was searched and how, the best under the objective's name, the page
    p = parent.data.params
    assert p["space.task.window_steps"] == "choice(10, 20)"
    assert p["space.task.optim.lr"] == "choice(0.001, 1e+30)"
    assert p["objectives"] == "val/pred_err" and p["directions"] == "minimize"
    assert p["n_trials"] == "4" and p["pruner"].startswith("MedianPruner(")
    assert p["sampler"] == "BruteForceSampler(seed=0)" and p["storage"].endswith("optuna.journal")
    best = study.best_trial
    assert math.isclose(parent.data.metrics["best/val/pred_err"], best.value, rel_tol=1e-12)
    note = parent.data.tags["mlflow.note.content"]
    assert f"trial #{best.number}]" in note and "cellsweep adopt t-window" in note
    assert "optimization_history.png" in note
    # the children: numbered names, each state visible, the best tagged, a failure explained
    for n, run in children.items():
        assert run.info.run_name.startswith(f"#{n:02d} window_steps=")
        state = states[n].name
        assert run.data.tags["cellsweep.trial_state"] == state
        status = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}[state]
        assert run.info.status == status
        if state != "COMPLETE":
            assert run.data.tags["mlflow.note.content"].startswith(f"**{state}**: ")
    assert optuna.trial.TrialState.FAIL in states.values()
    assert [n for n, r in children.items() if r.data.tags.get("cellsweep.best") == "true"] == [
        best.number
    ]
    assert "the study's trials, best first: http://127.0.0.1:5000/#/experiments/" in out
    # the best trial's command reruns it alone, and reproduces its objective
    command = shlex.split(children[best.number].data.tags["cellsweep.command"])
    assert command[0] == "cellsweep-train" and "-m" not in command
    assert not any(c.startswith("hydra.sweeper") for c in command)
    code, out, err = run_train([*command[1:], f"hydra.run.dir={tmp_path / 'rerun'}"], capsys)
    assert code == 0, err
    line = next(ln for ln in out.splitlines() if ln.startswith("final metrics"))
    rerun = float(line.split("val/pred_err=")[1].split(",")[0])
    assert math.isclose(rerun, best.value, rel_tol=1e-3)  # printed to 4 significant digits
