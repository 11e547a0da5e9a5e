"""cellsweep's sweeper under a Hydra app that knows nothing of cellsweep (tests/apps/stock_app):
its own config tree, a task function that returns a float, and `hparams_search` files written
for the stock hydra-optuna-sweeper with only the sweeper selection changed."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf
from optuna.trial import TrialState

from cellsweep.sweep.study.storage import make_storage
from helpers.run import experiment_runs, mlflow_client, run_app_in_process

APP_DIR = Path(__file__).parent / "apps" / "stock_app"
APP = APP_DIR / "stock_train.py"


def run_app(args: list[str], tmp: Path, capfd, monkeypatch) -> tuple[int, str, str]:
    """The app in-process, launched from ``tmp`` (its working directory)."""
    return run_app_in_process(APP_DIR, "stock_train", args, tmp, capfd, monkeypatch)


def error_lines(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.strip() and not ln.startswith(("[I ", "[20"))]


def runs(tmp: Path, experiment: str = "stock_train"):
    client = mlflow_client(tmp)
    found = experiment_runs(client, experiment)
    parents = [r for r in found if r.data.tags.get("cellsweep.role") == "study"]
    children = [r for r in found if "mlflow.parentRunId" in r.data.tags]
    return client, parents, children


def journal_study(tmp: Path, app: str = "stock_train") -> optuna.Study:
    """The app's one study: named after the app, with the fingerprint of its setup."""
    storage = make_storage(None, tmp / "sweeps" / "optuna.journal")
    (summary,) = optuna.get_all_study_summaries(storage, include_best_trial=False)
    assert re.fullmatch(rf"{app}-[0-9a-f]{{8}}", summary.study_name), summary.study_name
    return optuna.load_study(study_name=summary.study_name, storage=storage)


def test_float_app_gets_defaults_a_parent_run_child_runs_and_results(
    tmp_path, capfd, monkeypatch
) -> None:
    """No cellsweep key in the app: the study goes to ./sweeps, MLflow to ./mlruns, the study is
    named after the app, a float return completes the trial, `~penalty` deletes a key, and a
    failing trial's child run ends FAILED with its reason."""
    args = ["hparams_search=optuna", "hydra.sweeper.n_jobs=1", "hydra.sweeper.n_trials=4"]
    args += ["fail_on_width=64", "hydra.sweeper.max_failure_rate=1.0"]
    code, _, err = run_app(args, tmp_path, capfd, monkeypatch)
    assert code == 0, err
    study = journal_study(tmp_path)
    assert len(study.trials) == 4
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert complete and all(t.value < 1000 for t in complete)  # ~penalty deleted the penalty
    assert failed and all(t.params["model.width"] == 64 for t in failed)  # the seed gives both
    _, parents, children = runs(tmp_path)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert len(children) == 4
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    by_trial = {int(c.data.tags["cellsweep.trial"]): c for c in children}
    for t in study.trials:
        run = by_trial[t.number]
        assert t.user_attrs["mlflow_run_id"] == run.info.run_id
        assert float(run.data.params["model.lr"]) == pytest.approx(t.params["model.lr"])
        assert run.data.metrics["duration_s"] >= 0
        assert run.data.tags["cellsweep.trial_state"] == t.state.name
        if t.state == TrialState.COMPLETE:
            assert run.info.status == "FINISHED"
            assert run.data.metrics["value"] == pytest.approx(t.value)
        else:
            assert run.info.status == "FAILED"
            assert "width 64 diverged" in run.data.tags["cellsweep.fail_reason"]
    results = OmegaConf.load(tmp_path / "m" / "optimization_results.yaml")
    assert results.name == "optuna"
    assert results.best_value == study.best_value
    assert dict(results.best_params) == study.best_params


def test_legacy_keys_custom_space_random_sampler_and_nothing_kept(
    tmp_path, capfd, monkeypatch
) -> None:
    """The deprecated `search_space`, `custom_search_space` (its draw becomes an override),
    `hydra/sweeper/sampler=random`, a `~key` on the command line, `storage: memory` and
    `tracking: false`: only the sweep folder is written."""
    code, out, err = run_app(["hparams_search=legacy", "~penalty"], tmp_path, capfd, monkeypatch)
    assert code == 0, err
    assert "search_space is deprecated" in out + err
    results = OmegaConf.load(tmp_path / "m" / "optimization_results.yaml")
    best = results.best_params
    assert set(best) == {"model.lr", "model.width", "+model.dropout"}
    assert 0.0 <= best["+model.dropout"] <= 0.2  # bounded by cfg.max_dropout, as configured
    assert best["model.width"] in (16, 32, 64)
    assert results.best_value < 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no journal, no MLflow store


def test_grid_sampler_two_directions_write_the_pareto_front(tmp_path, capfd, monkeypatch) -> None:
    """`hydra/sweeper/sampler=grid` takes its grid from params (2 x 4 points, so n_trials=100
    becomes 8); a job returning a list gives one value per direction."""
    code, _, err = run_app(["hparams_search=grid"], tmp_path, capfd, monkeypatch)
    assert code == 0, err
    study = journal_study(tmp_path)
    assert len(study.trials) == 8
    assert {(t.params["model.lr"], t.params["model.width"]) for t in study.trials} == {
        (lr, w) for lr in (0.01, 0.03) for w in (16, 32, 48, 64)
    }
    front = OmegaConf.load(tmp_path / "m" / "optimization_results.yaml").solutions
    assert {tuple(s["values"]) for s in front} == {tuple(t.values) for t in study.best_trials}
    assert len(front) == 3  # lr 0.03 at widths 32, 48, 64: neither beats the other


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["hparams_search=stock_target"], "delete that `_target_` line"),
        (
            ["hparams_search=optuna", "hydra.sweeper.custom_search_space=nosuch.fn"],
            "custom_search_space",
        ),
        (["hparams_search=optuna", "hydra.sweeper.n_workers=3"], "n_jobs"),
        (["hparams_search=optuna", "hydra.sweeper.storage=memory"], "memory"),
        (["hparams_search=grid", "model.lr=interval(0.01, 0.1)"], "grid sampler needs"),
        (["hparams_search=legacy", "+hydra.sweeper.search_space.x.type=float"], "low and high"),
        (["hparams_search=optuna", "hydra.sweeper.tracking=42"], "tracking"),
    ],
)
def test_bad_input_in_a_foreign_app_is_one_line_and_exit_2(
    args, needle, tmp_path, capfd, monkeypatch
) -> None:
    code, out, err = run_app(args, tmp_path, capfd, monkeypatch)
    lines = error_lines(err)
    assert code == 2, (out, err)
    assert len(lines) == 1 and lines[0].startswith("stock_train.py: error:"), err
    assert needle in lines[0], lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "sweeps").exists() and not (tmp_path / "mlruns").exists()


def test_a_worker_that_cannot_start_fails_the_command(tmp_path, capfd, monkeypatch) -> None:
    """Called in-process, the app can only be relaunched as `python -m stock_train`, which the
    worker cannot import: the study still completes here, and the command says so and exits 1."""
    args = ["hparams_search=optuna", "hydra.sweeper.n_trials=2", "hydra.sweeper.tracking=false"]
    code, out, err = run_app(args, tmp_path, capfd, monkeypatch)
    assert code == 1, (out, err)
    assert "trials ran in 1 process(es); 1 worker(s) launched" in out
    assert "1 of 1 worker process(es) could not start (exit code 1)" in err
    assert len(journal_study(tmp_path).trials) == 2


@pytest.mark.slow
def test_stock_file_with_n_jobs_2_runs_two_real_workers(tmp_path) -> None:
    """The issue's check, as a user runs it: `python stock_train.py hparams_search=optuna`
    (n_jobs: 2) in a fresh folder."""
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    cmd = [sys.executable, str(APP), "hparams_search=optuna", "sleep_s=1.5"]
    proc = subprocess.run(
        [*cmd, f"hydra.sweep.dir={tmp_path / 'm'}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "starting 1 more worker" in proc.stdout
    assert "trials ran in 2 process(es)" in proc.stdout
    study = journal_study(tmp_path)
    assert sorted(t.number for t in study.trials) == list(range(6))
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert len({t.user_attrs["worker"] for t in study.trials}) == 2
    _, parents, children = runs(tmp_path)
    assert len(parents) == 1 and len(children) == 6
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    results = OmegaConf.load(tmp_path / "m" / "optimization_results.yaml")
    assert results.best_value == study.best_value


@pytest.mark.slow
def test_adopt_prints_a_plain_apps_command_that_reruns_its_trial(tmp_path) -> None:
    """A plain app has no conf/experiment/adopted/: `cellsweep adopt` writes the trial's
    overrides beside the app's launch folder and prints the app's command with them, and that
    command reruns the trial alone (one run, the trial's config and value)."""
    env = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", "CELLSWEEP_ROOT")}
    cmd = [sys.executable, str(APP), "hparams_search=optuna", "hydra.sweeper.n_jobs=1"]
    sweep = subprocess.run(
        [*cmd, "hydra.sweeper.n_trials=3"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert sweep.returncode == 0, sweep.stderr
    study = journal_study(tmp_path)
    best = study.best_trial
    journal = str(tmp_path / "sweeps" / "optuna.journal")
    adopt = subprocess.run(
        [sys.executable, "-m", "cellsweep.cli", "adopt", "--storage", journal],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert adopt.returncode == 0, adopt.stderr
    written = tmp_path / "adopted" / f"{study.study_name}.overrides.yaml"
    assert f"wrote {written}" in adopt.stdout
    rerun = shlex.split(adopt.stdout.split(f"rerun: (from {tmp_path}) ", 1)[1].splitlines()[0])
    assert rerun[:2] == [sys.executable, str(APP)]
    assert OmegaConf.load(written) == rerun[2:]  # the file holds the command's overrides
    assert f"#   {shlex.join(rerun)}" in written.read_text()

    shutil.rmtree(tmp_path / "outputs", ignore_errors=True)
    proc = subprocess.run(rerun, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    (config,) = (tmp_path / "outputs").glob("*/*/.hydra/config.yaml")  # one run, no sweep
    cfg = OmegaConf.load(config)
    assert cfg.model.lr == best.params["model.lr"] and cfg.model.width == best.params["model.width"]
    sys.path.insert(0, str(APP_DIR))
    try:
        from stock_train import objective
    finally:
        sys.path.remove(str(APP_DIR))
    assert objective(cfg) == pytest.approx(best.value, rel=1e-12)
