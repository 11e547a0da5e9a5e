"""The shared simulation cache (tasks/cache.py): both workloads build a second time from disk, and
a different data config misses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cellsweep.tasks import chemotaxis, density_pinn
from cellsweep.tasks.cache import cache_key, load_or_compute
from cellsweep.tasks.chemotaxis import data as chemo_data
from cellsweep.tasks.density_pinn import data as dp_data

CHEMO_TASK = {
    "name": "chemotaxis",
    "sim": {"n_particles": 2000, "n_steps": 300, "record_every": 10, "record_bins": 60},
    "bins": 20,
    "window_steps": 20,
    "pairs": {"count": 5, "stride_steps": 20},
    "val": {"start_steps": [0, 50], "horizon_steps": 100},
}
MLP = {"depth": 1, "width": 8, "activation": "tanh"}
DP_TASK = {"name": "density_pinn", "sim": {"n_cells": 10, "n_times": 6}}
DP_MODEL = {"estimator": "likelihood", "family": "gamma"}


def counting(monkeypatch, module, name: str = "simulate") -> list[int]:
    """Replace ``module.simulate`` by a wrapper that counts its calls."""
    calls: list[int] = []
    real = getattr(module, name)

    def wrapped(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapped)
    return calls


def test_key_ignores_order_and_tells_configs_apart() -> None:
    assert cache_key({"a": 1, "b": [2, 3]}) == cache_key({"b": [2, 3], "a": 1})
    assert cache_key({"a": 1}) != cache_key({"a": 2})


def test_unreadable_file_is_computed_again(tmp_path: Path) -> None:
    calls: list[int] = []

    def compute():
        calls.append(1)
        return {"x": np.arange(3)}

    first = load_or_compute(tmp_path, {"k": 1}, compute)
    (path,) = tmp_path.glob("sim-*.npz")
    path.write_bytes(b"not an npz")
    again = load_or_compute(tmp_path, {"k": 1}, compute)
    assert len(calls) == 2 and np.array_equal(first["x"], again["x"])
    assert np.array_equal(load_or_compute(tmp_path, {"k": 1}, compute)["x"], first["x"])
    assert len(calls) == 2  # rewritten, then read


def _chemo_counts(task: dict, cache: Path) -> np.ndarray:
    run = chemotaxis.build(task=task, model=MLP, seed=0, cache_dir=cache, output_dir=None)
    run.datamodule.setup("fit")
    return run.datamodule.train_pairs.rho0.numpy()


def test_chemotaxis_second_build_loads_from_cache(tmp_path: Path, monkeypatch) -> None:
    calls = counting(monkeypatch, chemo_data)
    first = _chemo_counts(CHEMO_TASK, tmp_path)
    assert len(calls) == 2  # a training and a validation replicate
    # an estimator-only change (window, bins) reuses the simulation
    second = _chemo_counts({**CHEMO_TASK, "window_steps": 40, "bins": 30}, tmp_path)
    assert len(calls) == 2
    assert np.array_equal(_chemo_counts(CHEMO_TASK, tmp_path), first)
    assert second.shape[1] == 30
    other = {**CHEMO_TASK, "sim": {**CHEMO_TASK["sim"], "n_particles": 3000}}
    _chemo_counts(other, tmp_path)
    assert len(calls) == 4  # another data config misses


def _dp_values(task: dict, cache: Path, seed: int = 0) -> np.ndarray:
    run = density_pinn.build(task=task, model=DP_MODEL, seed=seed, cache_dir=cache, output_dir=None)
    return run.datamodule.fit.values


def test_density_pinn_second_build_loads_from_cache(tmp_path: Path, monkeypatch) -> None:
    calls = counting(monkeypatch, dp_data)
    first = _dp_values(DP_TASK, tmp_path)
    assert len(calls) == 1 and len(list(tmp_path.glob("sim-*.npz"))) == 1
    again = _dp_values(DP_TASK, tmp_path)
    assert len(calls) == 1 and np.array_equal(first, again)
    _dp_values(DP_TASK, tmp_path, seed=1)
    _dp_values({**DP_TASK, "sim": {**DP_TASK["sim"], "lambda_d": 2.0}}, tmp_path)
    assert len(calls) == 3 and len(list(tmp_path.glob("sim-*.npz"))) == 3


@pytest.mark.parametrize("workload", [chemotaxis, density_pinn])
def test_without_cache_dir_every_build_simulates(workload, monkeypatch) -> None:
    calls = counting(monkeypatch, chemo_data if workload is chemotaxis else dp_data)
    for _ in range(2):
        if workload is chemotaxis:
            _chemo_counts(CHEMO_TASK, None)
        else:
            _dp_values(DP_TASK, None)
    assert len(calls) == (4 if workload is chemotaxis else 2)
