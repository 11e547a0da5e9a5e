"""The tiny chemotaxis run every training test starts from, and ``cellsweep-train`` in-process."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A chemotaxis run small enough for a test: 20k particles, 600 steps, 20 pairs, 4 epochs.
TINY = [
    "task.sim.n_particles=20000",
    "task.sim.n_steps=600",
    "task.pairs.count=20",
    "task.pairs.stride_steps=20",
    "task.val.start_steps=[50,100]",
    "task.val.horizon_steps=200",
    "task.optim.steps_per_epoch=5",
    "trainer.max_epochs=4",
    "trainer.enable_progress_bar=false",
]


# One simulation cache for the whole session (conftest points it at a session tmp folder). The
# cache is keyed by the simulation config, seed and replicate and written atomically
# (tasks/chemotaxis/data.py), so tests share it as a user's studies do, instead of simulating
# the same tiny data again in every test (seconds each, ~15 s on a loaded 2-core machine).
SHARED_CACHE: Path | None = None


def store_overrides(tmp: Path, shared_cache: bool = True) -> list[str]:
    """Keep every store of a test run inside its tmp_path; the simulation cache is the session's
    (``shared_cache=False``: one under tmp_path, for tests about the cache itself)."""
    cache = SHARED_CACHE if shared_cache and SHARED_CACHE is not None else tmp / "cache"
    return [
        f"paths.mlruns_dir={tmp / 'mlruns'}",
        f"paths.cache_dir={cache}",
        f"hydra.run.dir={tmp / 'out'}",
    ]


def run_train(argv: list[str], capsys=None) -> tuple[int, str, str]:
    """Run `cellsweep-train` in-process; returns (exit code, stdout, stderr)."""
    from cellsweep.train import main

    old = sys.argv
    sys.argv = ["cellsweep-train", *argv]
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = old
    out, err = capsys.readouterr() if capsys is not None else ("", "")
    return code, out, err


def mlflow_client(tmp: Path):
    """A client on the project's embedded store as ``store_overrides(tmp)`` places it."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{tmp / 'mlruns' / 'mlflow.db'}")


def experiment_runs(client, experiment: str) -> list:
    """Every run of one experiment (``cellsweep-<workload>``, or an app's own)."""
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], max_results=1000)


def run_app_in_process(
    app_dir: Path, module: str, args: list[str], tmp: Path, capfd, monkeypatch
) -> tuple[int, str, str]:
    """A plain Hydra app (``app_dir/<module>.py``, configs in ``app_dir/conf``) run in-process
    from ``tmp``, its multirun folder ``tmp/m``; returns (exit code, stdout, stderr)."""
    import importlib

    monkeypatch.chdir(tmp)
    monkeypatch.syspath_prepend(str(app_dir))
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    app = importlib.import_module(module)
    # imported, not run as a script, Hydra would look for the config as a package: point at it
    argv = [f"{module}.py", f"--config-path={app_dir / 'conf'}", *args]
    monkeypatch.setattr(sys, "argv", [*argv, f"hydra.sweep.dir={tmp / 'm'}"])
    code = 0
    try:
        app.main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capfd.readouterr()
    return code, out, err
