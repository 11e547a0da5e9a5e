"""One launch, one folder: every trial of a launch (whichever worker ran it) goes to
``<sweep dir>/<trial number>``, ``optimization_results.yaml`` beside them, and a resumed study
gets a folder of its own, which its parent run records."""

from __future__ import annotations

import pytest

from helpers.run import run_train
from helpers.sweep import load, mlflow_runs, sweep_args

# the shipped default's ${now:...}, which Hydra resolves again whenever a config is composed
TIMED = "${now:%H-%M-%S-%f}"


def launch(tmp_path, n_trials: int, *extra: str) -> list[str]:
    return [*sweep_args(tmp_path, n_trials, *extra), f"hydra.sweep.dir={tmp_path}/multirun/{TIMED}"]


def folders(tmp_path) -> list:
    return sorted(p for p in (tmp_path / "multirun").iterdir() if p.is_dir())


def parent_tag(tmp_path) -> str:
    _, runs = mlflow_runs(tmp_path)
    (parent,) = [r for r in runs if r.data.tags.get("cellsweep.role") == "study"]
    return parent.data.tags["cellsweep.sweep_dir"]


@pytest.mark.slow
def test_a_launch_writes_one_folder_and_a_resume_another(tmp_path, capsys) -> None:
    code, out, err = run_train(launch(tmp_path, 2, "trainer.max_epochs=1"), capsys)
    assert code == 0, err
    (first,) = folders(tmp_path)  # not one per trial, nor one more for the results
    assert {p.name for p in first.iterdir()} == {"0", "1", "optimization_results.yaml"}
    assert (first / "0" / ".hydra" / "config.yaml").is_file()
    assert f"results: {first / 'optimization_results.yaml'}" in out
    assert parent_tag(tmp_path) == str(first)

    # the resume, with two workers: the spawned one writes into this launch's folder too
    argv = launch(tmp_path, 4, "hydra.sweeper.n_workers=2", "trainer.max_epochs=1")
    code, out, err = run_train(argv, capsys)
    assert code == 0, err
    assert {t.number for t in load(tmp_path).trials} == {0, 1, 2, 3}
    older, second = folders(tmp_path)
    assert older == first
    assert {p.name for p in second.iterdir()} == {"2", "3", "optimization_results.yaml"}
    assert parent_tag(tmp_path) == str(second)  # where the latest launch wrote
