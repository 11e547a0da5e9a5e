"""What the stock hydra-optuna-sweeper's example apps show a user, as tests of our own.

tests/apps/stock_examples is a plain Hydra app (no cellsweep key) with one search file per
example. Each test runs it in a fresh folder with tracking on, its default: the study goes to
./sweeps, MLflow to ./mlruns, and the results to the sweep folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf
from optuna.trial import TrialState

from cellsweep.sweep.study.storage import make_storage
from helpers.run import run_app_in_process

APP_DIR = Path(__file__).parent / "apps" / "stock_examples"
APP = APP_DIR / "examples_app.py"


def run_app(args: list[str], tmp: Path, capfd, monkeypatch) -> tuple[int, str, str]:
    """The app in-process, launched from ``tmp`` (its working directory)."""
    return run_app_in_process(APP_DIR, "examples_app", args, tmp, capfd, monkeypatch)


def run_script(args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    """``python examples_app.py ...`` from ``tmp``, as a user starts it (workers relaunch it)."""
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.run(
        [sys.executable, str(APP), *args, f"hydra.sweep.dir={tmp / 'm'}"],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def the_study(tmp: Path) -> optuna.Study:
    storage = make_storage(None, tmp / "sweeps" / "optuna.journal")
    (summary,) = optuna.get_all_study_summaries(storage, include_best_trial=False)
    return optuna.load_study(study_name=summary.study_name, storage=storage)


def mlflow_runs(tmp: Path):
    """(parent runs, child runs by trial number) of the app's experiment."""
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp / 'mlruns' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("examples_app")
    found = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in found if r.data.tags.get("cellsweep.role") == "study"]
    children = {
        int(r.data.tags["cellsweep.trial"]): r for r in found if "mlflow.parentRunId" in r.data.tags
    }
    return parents, children


def results(tmp: Path):
    return OmegaConf.load(tmp / "m" / "optimization_results.yaml")


@pytest.mark.parametrize(
    "direction", ["minimize", pytest.param("maximize", marks=pytest.mark.slow)]
)
def test_sphere_with_tpe_finds_the_end_it_is_told_to(
    direction, tmp_path, capfd, monkeypatch
) -> None:
    """x in range(-5.5, 5.5, 0.5), y in {-5, 0, 5}: the sphere's minimum is 0 at (0, 0), its
    maximum 55.25 at (-5.5, +-5). TPE's 20 trials get within a step of either end."""
    args = ["search=sphere", f"hydra.sweeper.direction={direction}"]
    code, _, err = run_app(args, tmp_path, capfd, monkeypatch)
    assert code == 0, err
    study = the_study(tmp_path)
    assert len(study.trials) == 20
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    values = [t.value for t in study.trials]
    best = min(values) if direction == "minimize" else max(values)
    assert study.best_value == best
    if direction == "minimize":
        assert best <= 1.0
    else:
        assert best >= 50.0
    found = results(tmp_path)
    assert found.best_value == best
    assert dict(found.best_params) == study.best_params
    parents, children = mlflow_runs(tmp_path)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert parents[0].data.tags["cellsweep.directions"] == direction
    assert parents[0].data.metrics["best_value"] == best
    assert sorted(children) == list(range(20))
    assert all(set(r.data.params) == {"x", "y"} for r in children.values())


@pytest.mark.slow  # test_sweep_any_app's grid test (tracking off) is in the fast suite
def test_grid_sampler_cuts_n_trials_to_the_grid(tmp_path, capfd, monkeypatch) -> None:
    """n_trials: 50 over a 3 x 2 grid runs each point once: 6 trials, then the sweep ends."""
    code, _, err = run_app(["search=grid"], tmp_path, capfd, monkeypatch)
    assert code == 0, err
    study = the_study(tmp_path)
    points = sorted((t.params["x"], t.params["y"]) for t in study.trials)
    assert points == [(x, y) for x in (-1, 0, 1) for y in (0, 1)]
    assert results(tmp_path).best_value == 0.0
    parents, children = mlflow_runs(tmp_path)
    assert len(parents) == 1 and parents[0].data.tags["cellsweep.n_trials"] == "6"
    assert len(children) == 6


def test_two_objectives_write_the_pareto_front(tmp_path, capfd, monkeypatch) -> None:
    """Binh and Korn with NSGA-II: optimization_results.yaml lists the study's Pareto front,
    and no solution in it is dominated by any trial."""
    code, _, err = run_app(["search=pareto"], tmp_path, capfd, monkeypatch)
    assert code == 0, err
    study = the_study(tmp_path)
    assert len(study.trials) == 12 and len(study.directions) == 2
    front = results(tmp_path).solutions
    assert {tuple(s["values"]) for s in front} == {tuple(t.values) for t in study.best_trials}
    assert len(front) >= 2  # the two objectives pull apart: more than one trade-off
    done = [t.values for t in study.trials if t.state == TrialState.COMPLETE]
    for s in front:
        v = s["values"]
        assert not any(o[0] <= v[0] and o[1] <= v[1] and o != list(v) for o in done)
    _, children = mlflow_runs(tmp_path)
    assert all(set(r.data.metrics) >= {"value_0", "value_1"} for r in children.values())


def test_custom_search_space_adds_a_plus_key_logged_under_a_legal_name(
    tmp_path, capfd, monkeypatch
) -> None:
    """The stock example's function suggests "+w", a key the app's config lacks: the job gets
    it (appended), the results keep "+w", and MLflow logs it as "w" (it refuses "+")."""
    code, _, err = run_app(["search=custom"], tmp_path, capfd, monkeypatch)
    assert code == 0, err
    study = the_study(tmp_path)
    assert len(study.trials) == 6
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    for t in study.trials:  # the job saw z and w: its value has both terms
        p = t.params
        expected = p["x"] ** 2 + p["y"] ** 2 + (p["z"] - p["x"]) ** 2 + p["+w"]
        assert t.value == pytest.approx(expected)
        assert abs(p["z"] - p["x"]) <= 0.5
    assert set(results(tmp_path).best_params) == {"x", "y", "z", "+w"}
    _, children = mlflow_runs(tmp_path)
    for t in study.trials:
        params = children[t.number].data.params
        assert set(params) == {"x", "y", "z", "w"}
        assert float(params["w"]) == pytest.approx(t.params["+w"])


@pytest.mark.slow  # test_sweep_any_app's legacy test (tracking off) is in the fast suite
def test_the_deprecated_search_space_form_still_sweeps(tmp_path, capfd, monkeypatch) -> None:
    code, out, err = run_app(["search=legacy"], tmp_path, capfd, monkeypatch)
    assert code == 0, err
    assert "search_space is deprecated" in out + err
    study = the_study(tmp_path)
    assert len(study.trials) == 5
    assert all(-3.0 <= t.params["x"] <= 3.0 and t.params["y"] in (-2, 0, 2) for t in study.trials)
    _, children = mlflow_runs(tmp_path)
    assert len(children) == 5
    assert results(tmp_path).best_value == study.best_value


def test_sweep_returns_none_as_hydras_sweepers_do(tmp_path, monkeypatch) -> None:
    """Hydra's contract (the stock Optuna sweeper's, and what hydra.test_utils expects of it):
    the study is in its storage, not in sweep()'s return."""
    from hydra.test_utils.test_utils import SweepTaskFunction

    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(APP_DIR))
    import examples_app

    sweep = SweepTaskFunction()
    sweep.calling_file = str(APP)
    sweep.config_path = "conf"
    sweep.config_name = "examples"
    sweep.task_function = examples_app.main.__wrapped__
    sweep.temp_dir = str(tmp_path / "m")
    sweep.overrides = ["search=grid", "hydra.sweeper.tracking=false"]
    with sweep:
        assert sweep.returns is None
    assert len(the_study(tmp_path).trials) == 6


def failed_trial_blocks(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.startswith("[trial ") and ln.endswith("failed:")]


@pytest.mark.slow
def test_max_failure_rate_1_keeps_going_with_two_workers(tmp_path) -> None:
    """max_failure_rate 1.0, n_jobs 2: trials with x above 0 raise; every failure's traceback
    is on stderr, the study completes, and nothing says "interrupted"."""
    args = ["search=failures", "fail_above=0", "hydra.sweeper.max_failure_rate=1.0"]
    proc = run_script([*args, "sleep_s=0.5", "hydra.sweeper.n_trials=10"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "starting 1 more worker" in proc.stdout
    study = the_study(tmp_path)
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert len(study.trials) == 10 and failed
    assert all(t.params["x"] > 0 for t in failed)
    assert len(failed_trial_blocks(proc.stderr)) == len(failed)
    assert proc.stderr.count("RuntimeError: x=") == len(failed)
    assert "interrupted" not in proc.stderr and "Traceback" in proc.stderr
    parents, children = mlflow_runs(tmp_path)
    assert parents[0].info.status == "FINISHED" and len(children) == 10
    for t in failed:
        assert children[t.number].info.status == "FAILED"
        assert "is above 0" in children[t.number].data.tags["cellsweep.fail_reason"]


@pytest.mark.slow
def test_max_failure_rate_half_stops_the_sweep_once_with_two_workers(tmp_path) -> None:
    """max_failure_rate 0.5, n_jobs 2, most trials raising: the sweep stops with exit 1 and one
    stop line; stderr holds the trials' exceptions, and no "interrupted" from the worker that
    was told to stop."""
    proc = run_script(["search=failures", "fail_above=-2", "sleep_s=0.5"], tmp_path)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    stops = [ln for ln in proc.stderr.splitlines() if ": stopped:" in ln]
    assert len(stops) == 1 and stops[0].startswith("examples_app.py: stopped:"), proc.stderr
    assert "max_failure_rate=0.5" in stops[0]
    assert "interrupted" not in proc.stderr
    assert failed_trial_blocks(proc.stderr)
    assert "RuntimeError: x=" in proc.stderr
    study = the_study(tmp_path)
    assert sum(t.state == TrialState.FAIL for t in study.trials) > 0
    assert all(t.state != TrialState.RUNNING for t in study.trials)
    parents, _ = mlflow_runs(tmp_path)
    assert parents[0].info.status == "FAILED"
    assert not (tmp_path / "m" / "optimization_results.yaml").exists()
