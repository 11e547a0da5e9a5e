"""`cellsweep-train` on the Density-PINN workload: the three experiments, both estimators, logged
to MLflow with the density, the mean curve, the intervals and the serial/parallel call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from cellsweep.tasks.density_pinn.simulate import SimCfg, simulate, write
from conftest import run_train, store_overrides

QUIET = ["trainer.enable_progress_bar=false"]


def _run(tmp: Path):
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp / 'mlruns' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("cellsweep-density_pinn")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1
    return client, runs[0]


@pytest.mark.parametrize(
    ("experiment", "modes"), [("density_pinn/bimodal", 2), ("density_pinn/unimodal", 1)]
)
def test_likelihood_experiment_logs_everything(experiment, modes, tmp_path, capsys) -> None:
    argv = [f"experiment={experiment}", "trainer.max_epochs=4", *QUIET, *store_overrides(tmp_path)]
    code, out, err = run_train(argv, capsys)
    assert code == 0, err
    client, run = _run(tmp_path)
    assert run.info.status == "FINISHED"
    m = run.data.metrics
    for key in (
        "train/loss",
        "val/loss",
        "val/nll_heldout",
        "val/density_w1",
        "val/lambda_b_rel_err",
        "val/lambda_d_rel_err",
    ):
        hist = client.get_metric_history(run.info.run_id, key)
        assert [h.step for h in hist] == [0, 1, 2, 3], key
    assert m["final/lambda_d_lo95"] < m["final/lambda_d"] < m["final/lambda_d_hi95"]
    assert m["final/lambda_b_lo95"] < m["final/lambda_b"] < m["final/lambda_b_hi95"]
    assert m["final/n_modes"] == modes
    assert m["val/lambda_d_rel_err"] < 0.3 and m["val/density_w1"] < 0.3
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"density.png", "mean_curve.png", "density.csv", "estimates.json", "model.pt"} <= names
    est = json.loads(
        Path(
            client.download_artifacts(run.info.run_id, "estimates.json", str(tmp_path))
        ).read_text()
    )
    assert est["call"] == ("parallel" if modes == 2 else "serial")
    csv = Path(client.download_artifacts(run.info.run_id, "density.csv", str(tmp_path)))
    assert csv.read_text().splitlines()[0] == "t,f_tau,lo95,hi95,f_tau_true"
    assert f"{'parallel' if modes == 2 else 'serial'} pathway" in out


def test_authors_estimator_runs_from_the_same_experiment(tmp_path, capsys) -> None:
    argv = [
        "experiment=density_pinn/bimodal",
        "model=density_pinn/authors",
        "model.steps_per_epoch=20",
        "trainer.max_epochs=2",
        *QUIET,
        *store_overrides(tmp_path),
    ]
    code, _, err = run_train(argv, capsys)
    assert code == 0, err
    client, run = _run(tmp_path)
    assert run.data.params["model.estimator"] == "authors"
    assert run.data.params["model.n_kernels"] == "80"  # published defaults
    for key in ("train/physics", "train/data", "train/kl", "train/width", "val/nll_heldout"):
        assert len(client.get_metric_history(run.info.run_id, key)) == 2, key
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"density.png", "mean_curve.png", "estimates.json"} <= names


def test_csv_experiment_reads_traces_and_their_truth(tmp_path, capsys) -> None:
    traces, truth = simulate(SimCfg(), seed=5)
    path = tmp_path / "mine.csv"
    write(traces, truth, path)
    argv = [
        "experiment=density_pinn/csv",
        f"data.path={path}",
        "model.family=mixture2",
        "trainer.max_epochs=3",
        *QUIET,
        *store_overrides(tmp_path),
    ]
    code, _, err = run_train(argv, capsys)
    assert code == 0, err
    _, run = _run(tmp_path)
    assert run.data.params["task.data.path"] == str(path)
    assert run.data.metrics["val/lambda_d_rel_err"] < 0.3  # the truth JSON beside it was read
    # without the truth file: no truth metrics, the rest as before
    (tmp_path / "mine.truth.json").unlink()
    other = tmp_path / "second"
    code, _, err = run_train([*argv[:-3], *QUIET, *store_overrides(other)], capsys)
    assert code == 0, err
    _, run = _run(other)
    assert "val/nll_heldout" in run.data.metrics and "val/lambda_d_rel_err" not in run.data.metrics


BAD = {
    "broken trace CSV": (["experiment=density_pinn/csv", "data.path={bad}"], "row 3"),
    "missing trace CSV": (
        ["experiment=density_pinn/csv", "data.path=/nonexistent.csv"],
        "not found",
    ),
    "unknown family": (["experiment=density_pinn/bimodal", "model.family=weibull"], "model.family"),
    "mlp model on density task": (["task=density_pinn"], "model=density_pinn/likelihood"),
    "bad delay family": (
        ["experiment=density_pinn/unimodal", "task.sim.delay.0.family=weibull"],
        "delay family",
    ),
    "one cell": (["experiment=density_pinn/bimodal", "task.sim.n_cells=1"], "n_cells"),
    "bad width bounds": (
        ["experiment=density_pinn/bimodal", "model.width_min=3", "model.width_max=1"],
        "width_min",
    ),
    "poisson on intensities": (
        ["experiment=density_pinn/bimodal", "task.sim.scale=2.5", "model.likelihood=poisson"],
        "likelihood=gaussian",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_is_one_line_and_exit_2(name, tmp_path, capsys) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("time,a,b\n0,0,0\n1,5\n")
    args, needle = BAD[name]
    code, _, err = run_train(
        [*(a.format(bad=bad) for a in args), *QUIET, *store_overrides(tmp_path)], capsys
    )
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, err
    assert len(lines) == 1 and needle in lines[0], err
    assert not (tmp_path / "mlruns" / "mlflow.db").exists()


@pytest.mark.parametrize("sweep", ["density_pinn/arch", "density_pinn/family"])
def test_density_pinn_sweeps_run_and_log_children(sweep, tmp_path, capsys) -> None:
    argv = [
        "-m",
        f"sweep={sweep}",
        "experiment=density_pinn/unimodal",
        "trainer.max_epochs=2",
        "model.steps_per_epoch=5" if sweep.endswith("arch") else "model.iters_per_epoch=5",
        "hydra.sweeper.n_trials=3",
        f"paths.sweeps_dir={tmp_path / 'sweeps'}",
        f"hydra.sweep.dir={tmp_path / 'multirun'}",
        *QUIET,
        *store_overrides(tmp_path),
    ]
    code, out, err = run_train(argv, capsys)
    assert code == 0, err
    assert "done 3/3" in out
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("cellsweep-density_pinn")
    runs = client.search_runs([exp.experiment_id])
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(children) == 3
    assert all("val/nll_heldout" in r.data.metrics for r in children)
    assert {r.data.params["model.estimator"] for r in children} == {
        "authors" if sweep.endswith("arch") else "likelihood"
    }
