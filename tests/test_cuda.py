"""Training on a CUDA GPU: both workloads, both Density-PINN estimators, and a sweep's trials.

Skipped, with the reason, where torch sees no GPU (CI has none); run it on a GPU machine with
`pytest tests/test_cuda.py`. It caught tensors made on the CPU inside validation steps, which
CPU-only tests cannot see.
"""

from __future__ import annotations

import math
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest
import torch

from cellsweep.sweep.workers.devices import visible_gpus
from helpers.run import TINY, experiment_runs, mlflow_client, run_train, store_overrides
from helpers.sweep import load, sweep_args, train_command

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)"
)
QUIET = ["trainer.enable_progress_bar=false"]
CASES = {
    "chemotaxis": ("chemotaxis", [*TINY, "task.sim.device=cuda"]),
    "density_pinn likelihood": (
        "density_pinn",
        ["experiment=density_pinn/bimodal", "trainer.max_epochs=4", *QUIET],
    ),
    "density_pinn authors": (
        "density_pinn",
        [
            "experiment=density_pinn/bimodal",
            "model=density_pinn/authors",
            "trainer.max_epochs=20",
            *QUIET,
        ],
    ),
}


def _runs(tmp: Path, workload: str) -> list:
    return experiment_runs(mlflow_client(tmp), f"cellsweep-{workload}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_trains_on_cuda(name, tmp_path, capsys) -> None:
    workload, argv = CASES[name]
    code, _, err = run_train([*argv, "trainer=gpu", *store_overrides(tmp_path)], capsys)
    assert code == 0, err
    (run,) = _runs(tmp_path, workload)
    assert run.info.status == "FINISHED"
    assert run.data.params["trainer.accelerator"] == "gpu"
    assert run.data.metrics and all(math.isfinite(v) for v in run.data.metrics.values())
    if name == "density_pinn likelihood":  # the same fit as on the CPU (float64 throughout)
        assert run.data.metrics["val/lambda_d_rel_err"] < 0.3


def test_sweep_trials_on_cuda(tmp_path, capsys) -> None:
    argv = sweep_args(tmp_path, 2, "task.sim.device=cuda", "trainer=gpu")
    code, _, err = run_train(argv, capsys)
    assert code == 0, err
    trials = [r for r in _runs(tmp_path, "chemotaxis") if "mlflow.parentRunId" in r.data.tags]
    assert len(trials) == 2
    assert all(r.data.params["trainer.accelerator"] == "gpu" for r in trials)
    assert all(r.data.tags["cellsweep.trial_state"] == "COMPLETE" for r in trials)


def test_sweep_workers_spread_over_the_gpus(tmp_path, monkeypatch) -> None:
    """n_workers processes, one GPU each, round-robin over every GPU this machine shows (with
    a single GPU they share it: nothing to spread). Each trial trains on its worker's GPU."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    gpus = visible_gpus()
    extra = ("task.sim.device=cuda", "trainer=gpu", "hydra.sweeper.n_workers=2")
    argv = train_command(sweep_args(tmp_path, 4, *extra))
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    seen = defaultdict(set)
    for t in load(tmp_path).trials:
        assert t.state.name == "COMPLETE", t.user_attrs
        seen[t.user_attrs["worker"]].add(t.user_attrs.get("cuda_visible_devices"))
    if len(gpus) < 2:
        assert set().union(*seen.values()) <= {None}, seen  # one GPU: left as it was
        assert "one GPU each" not in proc.stdout
    else:
        assert f"workers 0-1 on CUDA_VISIBLE_DEVICES={gpus[0]},{gpus[1]}" in proc.stdout
        assert all(len(d) == 1 for d in seen.values()), seen  # each worker one device
        assert set().union(*seen.values()) <= {gpus[0], gpus[1]}, seen
