"""`cellsweep-train` end to end: Hydra config -> Lightning fit -> an MLflow run with everything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from cellsweep.train import single_run_name
from helpers.run import ROOT, TINY, experiment_runs, mlflow_client, run_train, store_overrides


def _only_run(tmp: Path):
    client = mlflow_client(tmp)
    runs = experiment_runs(client, "cellsweep-chemotaxis")
    assert len(runs) == 1
    return client, runs[0]


@pytest.mark.slow
@pytest.mark.parametrize("model", [1, 2, 3])
def test_experiment_logs_a_complete_mlflow_run(model, tiny, tmp_path, capsys) -> None:
    code, out, err = run_train([f"experiment=chemotaxis/model{model}", *tiny], capsys)
    assert code == 0, err
    client, run = _only_run(tmp_path)
    assert run.info.status == "FINISHED"
    # the resolved config, flattened into params
    p = run.data.params
    assert p["task.sim.model"] == str(model)
    assert p["task.sim.n_particles"] == "20000"
    assert p["model.depth"] == "3" and p["trainer.max_epochs"] == "4"
    assert p["tracking.uri"].startswith("sqlite:///")
    # metrics per epoch, step = epoch
    for name in ("train/loss", "val/loss", "val/S_rel_err", "val/S_rel_err_interior"):
        hist = client.get_metric_history(run.info.run_id, name)
        assert [m.step for m in hist] == [0, 1, 2, 3], name
    # the UI opens the experiment on its training runs, and the printed link on that view
    exp = client.get_experiment(run.info.experiment_id)
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    assert f"runs/{run.info.run_id}?workflowType=machine_learning" in out
    # named after the experiment and the overrides that make it (not where it is stored)
    assert run.info.run_name.startswith(f"chemotaxis-model{model} task.sim.n_particles=20000")
    assert "paths." not in run.info.run_name and "hydra." not in run.info.run_name
    # tags
    t = run.data.tags
    assert len(t["mlflow.source.git.commit"]) == 40
    assert t["cellsweep.git_dirty"] in ("True", "False")
    assert f"experiment=chemotaxis/model{model}" in t["cellsweep.command"]
    assert t["cellsweep.seed"] == "0"
    # artifacts
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {
        "config.yaml",
        "overrides.yaml",
        "sensitivity.png",
        "sensitivity.csv",
        "model.pt",
    } <= names
    local = Path(client.download_artifacts(run.info.run_id, "sensitivity.png", str(tmp_path)))
    assert local.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    overrides = Path(client.download_artifacts(run.info.run_id, "overrides.yaml", str(tmp_path)))
    assert f"experiment=chemotaxis/model{model}" in overrides.read_text()
    # the store is the one configured, under the test's tmp dir, and the user is told where
    assert str(tmp_path / "mlruns") in run.info.artifact_uri
    assert run.info.run_id in out and "cellsweep ui" in out


def test_overrides_reach_the_run(tiny, tmp_path, capsys) -> None:
    code, _, err = run_train(
        [
            "experiment=chemotaxis/model1",
            *tiny,
            "task.window_steps=100",
            "model.depth=2",
            "model.width=8",
            "trainer.max_epochs=2",
        ],
        capsys,
    )
    assert code == 0, err
    client, run = _only_run(tmp_path)
    assert run.data.params["model.depth"] == "2" and run.data.params["model.width"] == "8"
    assert run.data.params["derived.tau"] == "0.01"
    assert len(client.get_metric_history(run.info.run_id, "val/pred_err")) == 2
    assert run.info.run_name.startswith("chemotaxis-model1 task.sim.n_particles=20000")
    assert len(run.info.run_name) <= 250


def test_single_run_names_carry_the_experiment_and_its_overrides() -> None:
    cfg = OmegaConf.create({"run_name": None, "task": {"name": "chemotaxis"}})
    overrides = [
        "experiment=chemotaxis/model1",
        "task.window_steps=100",
        "model.depth=4",
        "task.window_steps=200",
        "paths.cache_dir=/x",
        "hydra.run.dir=/y",
        "tracking=none",
        "trainer.enable_progress_bar=false",
    ]
    name = single_run_name(cfg, overrides, "chemotaxis/model1")
    assert name == "chemotaxis-model1 model.depth=4 task.window_steps=200"
    assert single_run_name(cfg, []) == "chemotaxis"
    mine = OmegaConf.create({"run_name": "mine", "task": {"name": "chemotaxis"}})
    assert single_run_name(mine, ["run_name=mine", "model.depth=4"], "chemotaxis/model1") == "mine"
    # an experiment file's own run_name (an adopted one names its study and trial) comes first
    adopted = OmegaConf.create({"run_name": "adopted-s-trial3", "task": {"name": "chemotaxis"}})
    named = single_run_name(adopted, ["model.depth=4"], "adopted/s-trial3")
    assert named == "adopted-s-trial3 model.depth=4"


def _metrics(out: str) -> dict[str, str]:
    """The final metrics a run printed, without wall times (which differ run to run)."""
    line = next(ln for ln in out.splitlines() if ln.startswith("final metrics"))
    pairs = (kv.split("=") for kv in line.removeprefix("final metrics: ").split(", "))
    return {k: v for k, v in pairs if not k.startswith("time/")}


def test_same_seed_gives_same_metrics(tiny, capsys) -> None:
    args = ["experiment=chemotaxis/model1", *tiny, "tracking=none", "trainer.max_epochs=2"]
    _, out1, _ = run_train(args, capsys)
    _, out2, _ = run_train(args, capsys)
    assert _metrics(out1) == _metrics(out2)
    assert set(_metrics(out1)) >= {"train/loss", "val/loss", "val/pred_err", "val/S_rel_err"}
    _, out3, _ = run_train([*args, "seed=1"], capsys)
    assert _metrics(out3) != _metrics(out1)


def test_simulation_cache_is_reused_across_estimator_settings(tmp_path, capsys) -> None:
    tiny = [*TINY, *store_overrides(tmp_path, shared_cache=False)]  # a cache of its own
    run_train(
        ["experiment=chemotaxis/model1", *tiny, "tracking=none", "trainer.max_epochs=1"], capsys
    )
    files = sorted((tmp_path / "cache" / "chemotaxis").glob("sim-*.npz"))
    assert len(files) == 2  # training and validation replicates
    stamps = [f.stat().st_mtime_ns for f in files]
    run_train(
        [
            "experiment=chemotaxis/model1",
            *tiny,
            "tracking=none",
            "trainer.max_epochs=1",
            "task.window_steps=200",
            "task.loss.order=1",
            "model.width=4",
            "task.bins=25",
        ],
        capsys,
    )
    assert sorted((tmp_path / "cache" / "chemotaxis").glob("sim-*.npz")) == files
    assert [f.stat().st_mtime_ns for f in files] == stamps


def test_csv_snapshots_give_the_same_fit_as_the_simulation(tiny, tmp_path, capsys) -> None:
    """Export the simulated snapshots, then fit from the CSVs: same data, same metrics."""
    base = ["experiment=chemotaxis/model1", *tiny, "tracking=none", "trainer.max_epochs=2"]
    code, out_sim, err = run_train([*base, "task.data.export_csv=true"], capsys)
    assert code == 0, err
    out_dir = tmp_path / "out"
    code, out_csv, err = run_train(
        [
            *base,
            "task.data.source=csv",
            f"task.data.train_csv={out_dir / 'snapshots_train.csv'}",
            f"task.data.val_csv={out_dir / 'snapshots_val.csv'}",
            "task.estimator.D=1.0",
        ],
        capsys,
    )
    assert code == 0, err

    def metric(out: str, name: str) -> float:
        line = next(ln for ln in out.splitlines() if ln.startswith("final metrics"))
        return float(line.split(f"{name}=")[1].split(",")[0])

    assert metric(out_csv, "val/pred_err") == pytest.approx(
        metric(out_sim, "val/pred_err"), rel=1e-6
    )
    assert "val/S_rel_err" not in out_csv  # no analytic S for user data


@pytest.mark.slow
def test_console_script_runs_and_reports(tmp_path) -> None:
    exe = Path(sys.executable).parent / "cellsweep-train"
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    proc = subprocess.run(
        [
            str(exe),
            "experiment=chemotaxis/model1",
            *TINY,
            *store_overrides(tmp_path),
            "trainer.max_epochs=1",
        ],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "MLflow run" in proc.stdout and "cellsweep ui" in proc.stdout
    assert (tmp_path / "mlruns" / "mlflow.db").exists()
    # stores, logs and Hydra's output go where the config says, never into the working directory
    assert list(cwd.iterdir()) == []
    assert not (ROOT / "tests" / "mlruns").exists()
