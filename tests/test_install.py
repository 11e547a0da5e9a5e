"""`pip install cellsweep` where users live (issue 25): the wheel, into a fresh venv, with pip's
resolver and no constraints file.

1. builds the wheel from a copy of the checkout (the checkout gets no build folder);
2. installs it without extras, beside hydra-core 1.3.2 and omegaconf 2.3.0 (the low ends of the
   ranges, and lightning-hydra-template's pins; optuna and MLflow resolve to their newest): no
   torch, Lightning, scipy or plotting stack may come with it;
3. runs a plain Hydra app's sweep there with n_jobs: 2 (tests/apps/stock_app): a parent run and
   child runs in MLflow, two processes, optimization_results.yaml;
4. installs a CPU torch and a Lightning other than constraints.txt's pins, then
   cellsweep[lightning] beside them (pip must keep both), and sweeps a tiny Lightning app with
   OptunaPruning and a pruner (tests/apps/lightning_app): one trial pruned, one complete.

Needs a package index (PyPI or a mirror, through pip's own configuration) and nothing beyond it:
where pip cannot fetch a package, or no CPU torch wheel is offered, the test skips and says why.
The sizes and times it measures are printed (pytest -s) for the README's Install table.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPS = Path(__file__).parent / "apps"
# the one CPU torch this machine's index offers is constraints.txt's own 2.13.0 (every other
# version there is a CUDA build of gigabytes); the Lightning differs: the low end of the range
TORCH = os.environ.get("CELLSWEEP_TEST_TORCH", "torch==2.13.0+cpu")
LIGHTNING = os.environ.get("CELLSWEEP_TEST_LIGHTNING", "lightning==2.4.0")
CORE_LOW_ENDS = ["hydra-core==1.3.2", "omegaconf==2.3.0"]
NOT_IN_CORE = {
    "torch",
    "lightning",
    "pytorch-lightning",
    "scipy",
    "scikit-learn",
    "matplotlib",
    "pandas",
    "pyarrow",
    "mlflow",
    "flask",
    "psycopg2-binary",
    "submitit",
}
NETWORK = (
    "Could not find a version",
    "No matching distribution",
    "Failed to establish",
    "Max retries exceeded",
    "Temporary failure in name resolution",
    "Network is unreachable",
)


def clean_env() -> dict[str, str]:
    """The user's environment: no PYTHONPATH into this checkout, no Hydra debugging."""
    drop = {"PYTHONPATH", "HYDRA_FULL_ERROR", "VIRTUAL_ENV"}
    return {k: v for k, v in os.environ.items() if k not in drop} | {"PIP_NO_INPUT": "1"}


def pip(venv: Path, *args: str, timeout: float = 900) -> float:
    """``pip install ...`` in ``venv``; its wall time. Skips when the index cannot serve it."""
    t0 = time.monotonic()
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *args],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        if any(n in proc.stderr for n in NETWORK):
            pytest.skip(f"pip cannot fetch {' '.join(args)} here: {proc.stderr.strip()[-300:]}")
        raise AssertionError(proc.stderr)
    return time.monotonic() - t0


def installed(venv: Path) -> dict[str, str]:
    """The venv's distributions, name -> version (names normalized as pip writes them)."""
    code = (
        "import importlib.metadata as m, json; print(json.dumps({d.metadata['Name'].lower()"
        ".replace('_', '-'): d.version for d in m.distributions()}))"
    )
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=clean_env(),
    )
    return json.loads(out.stdout)


def size_mb(path: Path) -> float:
    return (
        sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 2**20
    )


def build_wheel(tmp: Path) -> Path:
    """The wheel of a copy of the checkout (pip would leave build/ and *.egg-info in it)."""
    src = tmp / "src-copy"
    shutil.copytree(
        ROOT / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp / "dist")]
    proc = subprocess.run(
        [*cmd, str(src)], env=clean_env(), capture_output=True, text=True, timeout=600
    )
    if proc.returncode != 0 and any(n in proc.stderr for n in NETWORK):
        pytest.skip(f"pip cannot fetch the build backend here: {proc.stderr.strip()[-300:]}")
    assert proc.returncode == 0, proc.stderr
    (wheel,) = (tmp / "dist").glob("cellsweep-*.whl")
    return wheel


def sweep(venv: Path, app: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    cwd.mkdir()
    proc = subprocess.run(
        [str(venv / "bin" / "python"), str(app), *args, f"hydra.sweep.dir={cwd / 'm'}"],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


# What the sweep left, read by the venv's own MLflow and Optuna (the store's schema is theirs).
REPORT = """
import json, sys, optuna
from mlflow.tracking import MlflowClient
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
client = MlflowClient(tracking_uri="sqlite:///mlruns/mlflow.db")
exp = client.get_experiment_by_name(sys.argv[1])
runs = client.search_runs([exp.experiment_id], max_results=1000)
storage = JournalStorage(JournalFileBackend("sweeps/optuna.journal"))
(summary,) = optuna.get_all_study_summaries(storage, include_best_trial=False)
study = optuna.load_study(study_name=summary.study_name, storage=storage)
print(json.dumps({
    "parents": [r.info.status for r in runs if r.data.tags.get("cellsweep.role") == "study"],
    "children": sorted(
        (int(r.data.tags["cellsweep.trial"]), r.data.tags.get("cellsweep.trial_state"))
        for r in runs if "mlflow.parentRunId" in r.data.tags
    ),
    "epochs": sorted(len(client.get_metric_history(r.info.run_id, "train/loss"))
                     for r in runs if "mlflow.parentRunId" in r.data.tags),
    "states": sorted(t.state.name for t in study.trials),
    "workers": len({t.user_attrs.get("worker") for t in study.trials}),
}))
"""


def report(venv: Path, cwd: Path, experiment: str) -> dict:
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", REPORT, experiment],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_wheel_installs_light_and_sweeps_a_users_apps(tmp_path) -> None:
    t0 = time.monotonic()
    wheel = build_wheel(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=clean_env())
    bare = size_mb(venv)
    core_s = pip(venv, str(wheel), *CORE_LOW_ENDS)
    have = installed(venv)
    core_mb = size_mb(venv) - bare
    print(f"\ncore install: {len(have)} distributions, {core_mb:.0f} MB, {core_s:.1f} s")
    assert not NOT_IN_CORE & set(have), sorted(NOT_IN_CORE & set(have))
    assert have["hydra-core"] == "1.3.2" and have["omegaconf"] == "2.3.0"
    assert {"optuna", "mlflow-skinny", "sqlalchemy", "alembic"} <= set(have)

    # a plain Hydra app, written for the stock plugin: n_jobs: 2, tracking on by default
    app = APPS / "stock_app" / "stock_train.py"
    proc = sweep(venv, app, ["hparams_search=optuna", "sleep_s=1.5"], tmp_path / "plain")
    assert "trials ran in 2 process(es)" in proc.stdout, proc.stdout
    found = report(venv, tmp_path / "plain", "stock_train")
    assert found["parents"] == ["FINISHED"]
    assert found["children"] == [[n, "COMPLETE"] for n in range(6)]
    assert found["states"] == ["COMPLETE"] * 6 and found["workers"] == 2
    assert (tmp_path / "plain" / "m" / "optimization_results.yaml").is_file()
    assert "no plots for" in proc.stderr + proc.stdout  # the core draws none, and says so

    # the user's own torch and Lightning, then the extra: pip keeps both as they are
    # no byte-compiling of torch's ~15,000 files: the step is the user's own, not cellsweep's
    theirs_s = pip(venv, "--no-compile", TORCH, LIGHTNING)
    before = installed(venv)
    extra_s = pip(venv, f"cellsweep[lightning] @ {wheel.as_uri()}")
    after = installed(venv)
    assert after["torch"] == before["torch"] and after["lightning"] == before["lightning"]
    assert after["lightning"] == LIGHTNING.split("==")[1]
    print(
        f"user's torch {after['torch']} + lightning {after['lightning']}: {theirs_s:.1f} s; "
        f"cellsweep[lightning] beside them: {extra_s:.1f} s"
    )
    app = APPS / "lightning_app" / "tiny_lightning.py"
    sweep(venv, app, ["-m"], tmp_path / "lightning")
    found = report(venv, tmp_path / "lightning", "tiny_lightning")
    assert found["parents"] == ["FINISHED"]
    assert found["states"] == ["COMPLETE", "PRUNED"]  # lr 0.5 fits; lr 0 is pruned at epoch 2
    assert found["epochs"] == [3, 8]  # per-epoch metrics in the child runs, until pruned
    print(f"whole test: {time.monotonic() - t0:.0f} s")
    shutil.rmtree(venv)  # a gigabyte with torch: pytest keeps its last three tmp folders
