"""Which GPU each local worker sees (cellsweep.sweep.devices), on a CPU with stand-in devices.

The end-to-end proof (each worker of a real sweep trains with one device) is in
test_sweep_workers.py; tests/test_cuda.py repeats it where a GPU is lent.
"""

from __future__ import annotations

from pathlib import Path

from cellsweep.sweep.workers.devices import visible_gpus, worker_gpus

STAND_IN = str(Path(__file__).parent / "stand_in_gpus")


def test_workers_get_one_device_each_round_robin() -> None:
    assert worker_gpus(4, ["0", "1"]) == ["0", "1", "0", "1"]
    assert worker_gpus(3, ["GPU-a", "GPU-b", "GPU-c", "GPU-d"]) == ["GPU-a", "GPU-b", "GPU-c"]


def test_one_device_none_or_one_worker_changes_nothing() -> None:
    assert worker_gpus(3, ["2"]) == [None, None, None]  # the user pinned the sweep to one GPU
    assert worker_gpus(2, []) == [None, None]
    assert worker_gpus(1, ["0", "1"]) == [None]  # a single worker keeps every device


def test_visible_devices_come_from_the_environment_first() -> None:
    env = {"CUDA_VISIBLE_DEVICES": "5, 7", "PATH": STAND_IN}
    assert visible_gpus(env) == ["5", "7"]  # a Slurm allocation or the user's choice
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "", "PATH": STAND_IN}) == []


def test_without_the_variable_every_gpu_nvidia_smi_lists(monkeypatch) -> None:
    monkeypatch.setenv("STAND_IN_GPUS", "0 1 2")
    assert visible_gpus({"PATH": STAND_IN}) == ["0", "1", "2"]
    assert visible_gpus({"PATH": "/nonexistent"}) == []  # no driver, no GPUs
