"""`cellsweep studies | best | adopt | report`, pruning, and the adopted config's rerun."""

from __future__ import annotations

import csv
import math
import shlex
import shutil
import sys

import optuna
import pytest

from cellsweep.cli import main as cli_main
from cellsweep.sweep.study.storage import make_storage
from helpers.run import ROOT, run_train, store_overrides
from helpers.sweep import load, mlflow_runs, sweep_args


def cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = 0
    try:
        cli_main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def final_metric(out: str, name: str) -> float:
    line = next(ln for ln in out.splitlines() if ln.startswith("final metrics"))
    return float(line.split(f"{name}=")[1].split(",")[0])


def rerun_line(text: str) -> list[str]:
    """The command an adopted file's header names, as argv."""
    line = next(ln for ln in text.splitlines() if ln.startswith("# Rerun: "))
    return shlex.split(line.removeprefix("# Rerun: "))


@pytest.mark.slow
def test_best_adopt_and_rerun_reproduce_the_best_trial(tmp_path, capsys, monkeypatch) -> None:
    name = f"t-adopt-{tmp_path.name}"
    code, _, err = run_train(sweep_args(tmp_path, 3, f"hydra.sweeper.study_name={name}"), capsys)
    assert code == 0, err
    journal = str(tmp_path / "sweeps" / "optuna.journal")
    study = load(tmp_path, name)
    best = study.best_trial

    code, out, _ = cli(["studies", "--storage", journal], capsys)
    assert code == 0 and name in out and "3 trials" in out
    code, out, _ = cli(["best", "--storage", journal], capsys)  # the one study: no name needed
    assert code == 0
    assert f"best trial: {best.number}" in out
    assert best.user_attrs["mlflow_run_id"] in out
    assert f"{best.value:.8g}" in out

    # adopt into a copy of conf/ (a project root under tmp_path), never into the checkout
    conf = tmp_path / "root" / "conf"
    shutil.copytree(ROOT / "conf", conf)
    monkeypatch.setenv("CELLSWEEP_ROOT", str(conf.parent))
    code, out, err = cli(["adopt", "--storage", journal], capsys)
    assert code == 0, err
    target = conf / "experiment" / "adopted" / f"{name}.yaml"
    assert f"wrote {target}" in out
    assert f"rerun: cellsweep-train experiment=adopted/{name}" in out
    assert not (ROOT / "conf" / "experiment" / "adopted" / f"{name}.yaml").exists()
    text = target.read_text()
    assert text.startswith("# @package _global_")
    assert f"window_steps: {best.params['task.window_steps']}" in text
    # the header's command, as it stands (stores still in tmp), reproduces the best trial
    command = rerun_line(text)
    assert command == ["cellsweep-train", f"experiment=adopted/{name}"]
    argv = [*command[1:], f"hydra.searchpath=[file://{conf}]", *store_overrides(tmp_path)]
    code, out, err = run_train(argv, capsys)
    assert code == 0, err
    assert final_metric(out, "val/pred_err") == pytest.approx(best.value, rel=1e-3)
    # ... and its MLflow run says where it came from
    client, runs = mlflow_runs(tmp_path)
    (rerun,) = [r for r in runs if r.data.tags.get("cellsweep.adopted.study") == name]
    tags = rerun.data.tags
    assert rerun.info.run_name == f"adopted-{name}"  # the file's run_name
    assert tags["cellsweep.adopted.trial"] == str(best.number)
    assert tags["cellsweep.adopted.run_id"] == best.user_attrs["mlflow_run_id"]
    assert tags["cellsweep.adopted.fingerprint"] == study.user_attrs["cellsweep_fingerprint"]
    source = client.get_run(best.user_attrs["mlflow_run_id"])
    link = f"#/experiments/{source.info.experiment_id}/runs/{source.info.run_id}"
    assert link in tags["mlflow.note.content"]

    # any complete trial, by number: a file of its own, whose config is that trial's
    other = next(t for t in study.trials if t.number != best.number)
    code, out, err = cli(
        ["adopt", name, "--trial", str(other.number), "--storage", journal], capsys
    )
    assert code == 0, err
    chosen = f"{name}-trial{other.number}"
    text = (conf / "experiment" / "adopted" / f"{chosen}.yaml").read_text()
    assert rerun_line(text) == ["cellsweep-train", f"experiment=adopted/{chosen}"]
    assert f"window_steps: {other.params['task.window_steps']}" in text
    assert f"run_name: adopted-{chosen}" in text
    code, _, err = cli(["adopt", "--trial", "99", "--storage", journal], capsys)
    assert code == 2 and "no trial 99" in err

    code, out, _ = cli(["report", "--storage", journal, "--out", str(tmp_path / "rep")], capsys)
    assert code == 0
    written = {p.name for p in (tmp_path / "rep").iterdir()}
    assert {"summary.json", "trials.csv", "optimization_history.png"} <= written
    rows = list(csv.DictReader((tmp_path / "rep" / "trials.csv").open()))
    assert len(rows) == 3
    by_number = {int(r["number"]): r for r in rows}
    assert by_number[best.number]["mlflow_run_id"] == best.user_attrs["mlflow_run_id"]
    # every metric the trial returned at its end, not only the objective
    assert float(by_number[best.number]["val/pred_err"]) == pytest.approx(best.value)
    assert float(by_number[best.number]["val/S_rel_err"]) >= 0


def test_commands_take_no_name_only_with_one_study(tmp_path, capsys) -> None:
    """`best`, `adopt` and `report` without a name pick the storage's one study; with none or
    several, one line says which there are."""
    journal = tmp_path / "j.journal"
    storage = make_storage(None, journal)
    optuna.create_study(study_name="only", storage=storage)
    code, _, err = cli(["best", "--storage", str(journal)], capsys)
    assert code == 2 and "'only' has no complete trial" in err
    optuna.create_study(study_name="second", storage=storage)
    for command in ("best", "adopt", "report"):
        code, _, err = cli([command, "--storage", str(journal)], capsys)
        assert code == 2, command
        assert err.strip().splitlines() == [
            "cellsweep: error: 2 studies in the storage: name one of only, second"
        ]


def test_adopt_takes_complete_trials_only(tmp_path, capsys) -> None:
    journal = tmp_path / "j.journal"
    study = optuna.create_study(study_name="s", storage=make_storage(None, journal))
    dist = {"x": optuna.distributions.FloatDistribution(0.0, 1.0)}
    study.add_trial(optuna.trial.create_trial(params={"x": 0.5}, distributions=dist, value=1.0))
    study.add_trial(
        optuna.trial.create_trial(
            params={"x": 0.1}, distributions=dist, state=optuna.trial.TrialState.PRUNED
        )
    )
    code, _, err = cli(["adopt", "--trial", "1", "--storage", str(journal)], capsys)
    assert code == 2 and "trial 1 of 's' is PRUNED" in err


def test_unknown_study_or_storage_is_exit_2(tmp_path, capsys) -> None:
    journal = tmp_path / "j.journal"
    code, _, err = cli(["best", "nope", "--storage", str(journal)], capsys)
    assert code == 2 and "no study storage" in err and len(err.strip().splitlines()) == 1
    assert not journal.exists()  # reading never creates a storage
    optuna.create_study(study_name="other", storage=make_storage(None, journal))
    code, _, err = cli(["best", "nope", "--storage", str(journal)], capsys)
    assert code == 2 and "no study named 'nope'" in err and len(err.strip().splitlines()) == 1


def test_adopt_refuses_code_or_interpolations_from_study_records(tmp_path, capsys) -> None:
    journal = tmp_path / "j.journal"
    study = optuna.create_study(study_name="evil", storage=make_storage(None, journal))
    unsafe = "${oc.env:HOME}"
    study.add_trial(
        optuna.trial.create_trial(
            params={"model.activation": unsafe},
            distributions={
                "model.activation": optuna.distributions.CategoricalDistribution([unsafe])
            },
            value=0.0,
            user_attrs={"overrides": [f"model.activation={unsafe}"]},
        )
    )
    code, _, err = cli(["adopt", "evil", "--storage", str(journal)], capsys)
    assert code == 2 and "refusing to adopt" in err
    assert not (ROOT / "conf" / "experiment" / "adopted" / "evil.yaml").exists()


@pytest.mark.slow
def test_pruner_stops_trials_and_they_are_logged_as_pruned(tmp_path, capsys) -> None:
    args = sweep_args(
        tmp_path, 2, "hydra.sweeper.pruner={_target_:optuna.pruners.ThresholdPruner,upper:-1.0}"
    )
    code, out, err = run_train(args, capsys)
    assert code == 0, err
    study = load(tmp_path)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.PRUNED] * 2
    assert [t.user_attrs["epochs"] for t in study.trials] == [1, 1]
    client, runs = mlflow_runs(tmp_path)
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(children) == 2
    for r in children:
        assert (
            r.info.status == "KILLED"
        )  # stopped early: marked apart from complete ones (issue 24)
        assert r.data.tags["cellsweep.trial_state"] == "PRUNED"
        # pruned after the first epoch: one epoch of metrics, not three
        assert len(client.get_metric_history(r.info.run_id, "val/pred_err")) == 1
    assert "pruned 2" in out


@pytest.mark.slow
def test_multi_objective_study(tmp_path, capsys) -> None:
    args = [
        a
        for a in sweep_args(tmp_path, 3)
        if not a.startswith(("sweep=", "hydra.sweeper.study_name"))
    ]
    args = [
        "sweep=chemotaxis/accuracy_vs_time",
        "hydra.sweeper.study_name=t-mo",
        "trainer.max_epochs=2",  # a plain override pins a searched key
        *[a for a in args if a != "-m"],
    ]
    code, out, err = run_train(["-m", *args], capsys)
    assert code == 0, err
    study = load(tmp_path, "t-mo")
    assert len(study.directions) == 2
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 3
    assert all(len(t.values) == 2 and all(math.isfinite(v) for v in t.values) for t in complete)
    code, out, _ = cli(
        ["best", "t-mo", "--storage", str(tmp_path / "sweeps" / "optuna.journal")], capsys
    )
    assert code == 0 and "pareto trial" in out


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
