"""Bad sweep input: one line on stderr, exit code 2, no traceback, and nothing written to the
study storage or to MLflow (a table of cases, as users get them wrong)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers.run import TINY, run_train, store_overrides

SECRET = "s3cr3t-pw"
CASES = {
    "unknown sweep": (["sweep=chemotaxis/nosuch"], "nosuch"),
    "unknown sampler": (
        ["hydra.sweeper.sampler._target_=optuna.samplers.NoSuchSampler"],
        "NoSuchSampler",
    ),
    "unknown pruner": (["hydra.sweeper.pruner=sometimes"], "pruner"),
    "interval low > high": (["task.optim.lr=interval(1.0,0.1)"], "task.optim.lr"),
    "log interval with zero bound": (["task.optim.lr=tag(log, interval(0.0, 1.0))"], "log"),
    "empty choice": (["model.width=choice()"], "model.width"),
    "malformed interval": (["task.optim.lr=interval(fast,slow)"], "task.optim.lr"),
    "range with zero step": (["model.depth=range(1,4,0)"], "model.depth"),
    "zero trials": (["hydra.sweeper.n_trials=0"], "n_trials"),
    "negative trials": (["hydra.sweeper.n_trials=-3"], "n_trials"),
    "failure rate above 1": (["hydra.sweeper.max_failure_rate=2"], "max_failure_rate"),
    "zero workers": (["hydra.sweeper.n_workers=0"], "n_workers"),
    "negative threads": (["hydra.sweeper.threads_per_worker=-1"], "threads_per_worker"),
    "bad direction": (["hydra.sweeper.direction=sideways"], "direction"),
    "unknown sweeper key": (["+hydra.sweeper.nosuchkey=1"], "nosuchkey"),
    "unknown key in the search space": (["task.nosuchkey=choice(1,2)"], "nosuchkey"),
    "unreachable storage": (
        [f"hydra.sweeper.storage=postgresql+psycopg2://u:{SECRET}@127.0.0.1:9/optuna"],
        "storage",
    ),
    "postgres storage without its URL": (["storage=postgres"], "CELLSWEEP_OPTUNA_STORAGE"),
    "unreachable tracking server": (
        ["tracking=server", f"tracking.uri=http://u:{SECRET}@127.0.0.1:9"],
        "tracking.uri",
    ),
    "unknown storage option": (["storage=cassandra"], "cassandra"),
    "wrong type in a pinned key": (["task.sim.n_particles=many"], "n_particles"),
    "a value only the workload rejects": (["task.sim.n_particles=-1000"], "n_particles"),
    "a launcher that cannot start workers": (
        ["hydra.launcher._target_=hydra_plugins.hydra_joblib_launcher.JoblibLauncher"],
        "JoblibLauncher",
    ),
    # no srun here, or Slurm's commands without a cluster (no slurm.conf): caught before writing
    "slurm launcher without Slurm": (["hydra/launcher=slurm"], "hydra.launcher (slurm):"),
    "unknown slurm key": (
        ["hydra/launcher=slurm", "+hydra.launcher.nosuchkey=1"],
        "nosuchkey",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_sweep_input_is_one_line_and_exit_2(name, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("CELLSWEEP_OPTUNA_STORAGE", raising=False)
    if name == "unknown slurm key":  # an srun must be found (never run) to reach the key check
        stand_in = tmp_path / "bin"
        stand_in.mkdir()
        (stand_in / "srun").write_text("#!/bin/sh\nexit 1\n")
        (stand_in / "srun").chmod(0o755)
        monkeypatch.setenv("PATH", f"{stand_in}{os.pathsep}{os.environ['PATH']}")
    if name == "slurm launcher without Slurm":
        monkeypatch.delenv("SLURM_CONF", raising=False)
        if shutil.which("sinfo") and subprocess.run(["sinfo"], capture_output=True).returncode == 0:
            pytest.skip("a Slurm cluster answers on this machine (/etc/slurm/slurm.conf)")
    args, needle = CASES[name]
    argv = [
        "-m",
        "sweep=chemotaxis/window",
        *TINY,
        *store_overrides(tmp_path),
        f"paths.sweeps_dir={tmp_path / 'sweeps'}",
        f"hydra.sweep.dir={tmp_path / 'multirun'}",
        "hydra.sweeper.n_trials=2",
        *args,
    ]
    code, out, err = run_train(argv, capsys)
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("[I ")]
    assert code == 2, (out, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("cellsweep-train: error:") and needle in lines[0], lines[0]
    assert "Traceback" not in err and SECRET not in err + out
    assert not (tmp_path / "mlruns" / "mlflow.db").exists()
    journal = tmp_path / "sweeps" / "optuna.journal"
    assert not journal.exists() or journal.stat().st_size == 0
