"""Scale-out for real: PostgreSQL-backed Optuna storage and an MLflow server on PostgreSQL (both on
loopback, started by `scripts/services.sh`, the script behind `make services`), with three worker
processes launched independently on one study, as users on several hosts would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from helpers.run import ROOT
from helpers.servers import free_port
from helpers.sweep import sweep_args, train_command

SCRIPT = ROOT / "scripts" / "services.sh"
N_TRIALS = 12  # four per worker: enough for the three to race for the last ones
# skipped, with the reason, if missing; one PostgreSQL per module, so one xdist worker runs it
pytestmark = [pytest.mark.server("postgres", "mlflow"), pytest.mark.xdist_group("postgres")]


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    where = tmp_path_factory.mktemp("services")
    env = {
        **os.environ,
        "CELLSWEEP_SERVICES_DIR": str(where),
        "CELLSWEEP_PG_PORT": str(free_port()),
        "CELLSWEEP_MLFLOW_PORT": str(free_port()),
        "CELLSWEEP_MLFLOW_BIN": str(Path(sys.executable).with_name("mlflow")),
    }
    if os.geteuid() == 0:  # PostgreSQL runs as the postgres account, which needs to reach the dir
        os.chmod(where, 0o755)
        for parent in where.parents:
            if parent == Path("/"):
                break
            os.chmod(parent, os.stat(parent).st_mode | 0o011)
    out = subprocess.run(
        ["bash", str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    exports = dict(
        line.removeprefix("export ").split("=", 1) for line in out.stdout.splitlines() if line
    )
    yield {**exports, "_env": env}
    subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True, timeout=120)


@pytest.mark.slow  # starting PostgreSQL and MLflow: ~30 s, shared with the test below
def test_services_bind_to_loopback_and_keep_the_password_private(services) -> None:
    url = services["CELLSWEEP_OPTUNA_STORAGE"]
    assert "@127.0.0.1:" in url and services["MLFLOW_TRACKING_URI"].startswith("http://127.0.0.1:")
    where = Path(services["_env"]["CELLSWEEP_SERVICES_DIR"])
    assert oct((where / "password").stat().st_mode & 0o777) == "0o600"


@pytest.mark.slow
def test_three_workers_on_postgres_share_one_study_and_one_parent_run(services, tmp_path) -> None:
    env = {
        **os.environ,
        "CELLSWEEP_OPTUNA_STORAGE": services["CELLSWEEP_OPTUNA_STORAGE"],
        "MLFLOW_TRACKING_URI": services["MLFLOW_TRACKING_URI"],
        "OMP_NUM_THREADS": "1",
    }
    extra = [
        "storage=postgres",
        "tracking=server",
        "trainer.max_epochs=8",
        "hydra.sweeper.study_name=dist-window",
        "hydra.sweeper.pruner=median",
        "hydra.sweeper.threads_per_worker=1",
    ]
    procs = [
        subprocess.Popen(
            train_command(
                sweep_args(tmp_path, N_TRIALS, *extra, f"hydra.sweep.dir={tmp_path / f'w{i}'}")
            ),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(3)
    ]
    outs = [p.communicate(timeout=900)[0] for p in procs]
    for p, out in zip(procs, outs, strict=True):
        assert p.returncode == 0, out[-3000:]
    assert all(len([ln for ln in o.splitlines() if ln.startswith("[trial")]) > 0 for o in outs)

    study = optuna.load_study(
        study_name="dist-window", storage=services["CELLSWEEP_OPTUNA_STORAGE"]
    )
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    states = [(t.number, t.state.name, t.user_attrs) for t in study.trials if t not in finished]
    assert len(study.trials) == N_TRIALS and len(finished) == N_TRIALS, states  # no overshoot
    assert sorted(t.number for t in study.trials) == list(range(N_TRIALS))
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]

    client = MlflowClient(tracking_uri=services["MLFLOW_TRACKING_URI"])
    exp = client.get_experiment_by_name("cellsweep-chemotaxis")
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("cellsweep.role") == "study"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1
    assert len(children) == N_TRIALS
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    by_number = {t.number: t for t in study.trials}
    for c in children:  # every epoch of every trial reached the server
        trial = by_number[int(c.data.tags["cellsweep.trial"])]
        epochs = int(trial.user_attrs["epochs"])
        assert len(client.get_metric_history(c.info.run_id, "val/pred_err")) == epochs
        assert c.data.tags["cellsweep.trial_state"] == trial.state.name
    assert [c for c in children if c.data.tags["cellsweep.trial_state"] == "PRUNED"] or not pruned
    parent = client.get_run(parents[0].info.run_id)
    assert parent.data.metrics["best_value"] == pytest.approx(study.best_value)
    assert parent.data.tags["cellsweep.best_run_id"] in {c.info.run_id for c in children}
    # the URL's password is nowhere: not in params, tags or artifacts of any run, not in the
    # study's records, not in what the workers printed, not in any file they wrote
    password = services["CELLSWEEP_OPTUNA_STORAGE"].split(":")[2].split("@")[0]
    assert len(password) >= 16
    dest = tmp_path / "artifacts"
    n_artifacts = 0
    for r in [*children, parent]:
        assert password not in repr(r.data.params) + repr(r.data.tags)
        where = Path(client.download_artifacts(r.info.run_id, "", str(dest / r.info.run_id)))
        for path in where.rglob("*"):
            if path.is_file():
                n_artifacts += 1
                assert password.encode() not in path.read_bytes(), path
    assert n_artifacts >= 5 * N_TRIALS  # config, overrides, figure, csv and weights per trial
    records = [repr((t.params, t.user_attrs, t.system_attrs)) for t in study.trials]
    assert password not in repr(study.user_attrs) + "".join(records)
    assert not [o for o in outs if password in o]
    for path in tmp_path.rglob("*"):
        if path.is_file() and dest not in path.parents:
            assert password.encode() not in path.read_bytes(), path
