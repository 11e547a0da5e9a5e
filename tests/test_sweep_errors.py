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


# --- what is bad input and what is a bug: classified by type, each told once -------------------


def test_a_validator_that_crashes_is_a_bug_not_bad_input() -> None:
    """A ConfigError from the app's validator is bad input (exit 2); any other exception is a
    bug in the validator and goes on with its traceback (exit 1)."""
    from cellsweep.errors import ConfigError
    from cellsweep.sweep.plugin.run import check_before_writing
    from cellsweep.sweep.space.grammar import parse_space

    space = parse_space({"x": "interval(0.0, 1.0)"})

    def compose(overrides):
        return {"overrides": overrides}

    def refuses(cfg):
        raise ConfigError("x: too large")

    def crashes(cfg):
        return 1 / 0

    with pytest.raises(ConfigError, match="too large"):
        check_before_writing(refuses, space, compose, [])
    with pytest.raises(ZeroDivisionError):
        check_before_writing(crashes, space, compose, [])
    check_before_writing(None, space, compose, [])  # nothing to check: fine


def test_an_identity_value_that_cannot_resolve_is_refused(monkeypatch) -> None:
    """A data file named through an interpolation that does not resolve would silently drop
    out of the study's identity; a value that exists only when a job runs names no input."""
    from omegaconf import OmegaConf

    from cellsweep.errors import ConfigError
    from cellsweep.sweep.study.identity import study_identity

    monkeypatch.delenv("CELLSWEEP_NO_SUCH_VAR", raising=False)
    job_time = OmegaConf.create({"out": "???", "task": {"log": "${out}/log.txt"}})
    assert "config.task.log" in study_identity(job_time, {}).items
    broken = OmegaConf.create({"task": {"data": "${oc.env:CELLSWEEP_NO_SUCH_VAR}"}})
    with pytest.raises(ConfigError, match=r"task\.data: cannot be resolved") as err:
        study_identity(broken, {})
    assert "\n" not in str(err.value) and "identity_ignore" in str(err.value)


def test_a_heartbeat_that_keeps_failing_is_told_once_with_its_cause(caplog) -> None:
    import logging
    import time

    from cellsweep.sweep.study.heartbeat import MISSED_BEATS, Heartbeat

    class Trial:
        number, beats, fail = 4, 0, True

        def set_user_attr(self, key, value):
            self.beats += 1
            if self.fail and self.beats > 1:  # the first stamp (on entry) gets through
                raise OSError("disk full")

    trial = Trial()
    with caplog.at_level(logging.WARNING, logger="cellsweep.sweep"), Heartbeat(trial, 0.01):
        deadline = time.monotonic() + 10
        while trial.beats < 3 * MISSED_BEATS + 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        trial.fail = False
        while "written again" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.01)
    told = [r.getMessage() for r in caplog.records if "could not be written" in r.getMessage()]
    assert len(told) == 1 and "OSError: disk full" in told[0] and "trial 4" in told[0]
    assert "trial 4: heartbeat written again" in caplog.text
