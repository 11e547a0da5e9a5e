"""`cellsweep studies | best | adopt | report`, pruning, and the adopted config's rerun."""

from __future__ import annotations

import math
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
    code, out, _ = cli(["best", name, "--storage", journal], capsys)
    assert code == 0
    assert f"best trial: {best.number}" in out
    assert best.user_attrs["mlflow_run_id"] in out
    assert f"{best.value:.8g}" in out

    # adopt into a copy of conf/ (a project root under tmp_path), never into the checkout
    conf = tmp_path / "root" / "conf"
    shutil.copytree(ROOT / "conf", conf)
    with monkeypatch.context() as m:
        m.setenv("CELLSWEEP_ROOT", str(conf.parent))
        code, out, err = cli(["adopt", name, "--storage", journal], capsys)
    assert code == 0, err
    target = conf / "experiment" / "adopted" / f"{name}.yaml"
    assert f"wrote {target}" in out
    assert not (ROOT / "conf" / "experiment" / "adopted" / f"{name}.yaml").exists()
    text = target.read_text()
    assert text.startswith("# @package _global_")
    assert f"window_steps: {best.params['task.window_steps']}" in text
    # rerun the adopted experiment (stores still in tmp): same objective as the best trial
    code, out, err = run_train(
        [
            f"experiment=adopted/{name}",
            f"hydra.searchpath=[file://{conf}]",
            *store_overrides(tmp_path),
            "tracking=none",
        ],
        capsys,
    )
    assert code == 0, err
    assert final_metric(out, "val/pred_err") == pytest.approx(best.value, rel=1e-3)

    code, out, _ = cli(
        ["report", name, "--storage", journal, "--out", str(tmp_path / "rep")], capsys
    )
    assert code == 0
    written = {p.name for p in (tmp_path / "rep").iterdir()}
    assert {"summary.json", "trials.csv", "optimization_history.png"} <= written
    assert len((tmp_path / "rep" / "trials.csv").read_text().splitlines()) == 4


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
        assert r.info.status == "FINISHED"
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
