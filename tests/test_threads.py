"""trainer.threads: auto picks torch threads from the model's size and the free cores."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from cellsweep import threads
from cellsweep.errors import ConfigError
from helpers.run import TINY, run_train, store_overrides


def _load(monkeypatch, busy: float) -> None:
    monkeypatch.setattr(threads, "busy_elsewhere", lambda: busy)
    monkeypatch.setattr(threads, "given_cores", lambda: 8)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)


def test_auto_trains_a_small_model_on_one_thread_and_a_large_one_on_the_free_cores(
    monkeypatch,
) -> None:
    _load(monkeypatch, busy=0.0)
    assert threads.train_threads("auto", n_params=5_000, cap=8) == 1
    assert threads.train_threads("auto", n_params=5_000_000, cap=8) == 8
    assert threads.train_threads("auto", n_params=5_000_000, cap=4) == 4  # a worker's share
    _load(monkeypatch, busy=5.0)  # five cores busy elsewhere: three are left
    assert threads.train_threads("auto", n_params=5_000_000, cap=8) == 3
    _load(monkeypatch, busy=12.0)  # oversubscribed: still one
    assert threads.train_threads("auto", n_params=5_000_000, cap=8) == 1


def test_auto_simulates_on_one_thread_idle_or_busy(monkeypatch) -> None:
    """With sleeping idle threads a second one made a 10^5-particle simulation 4x slower on
    an idle machine (threads.py): the data phase takes one under ``auto``, whatever the load."""
    for busy in (0.0, 5.0, 12.0):
        _load(monkeypatch, busy=busy)
        assert threads.data_threads("auto") == 1


def test_a_fixed_count_is_taken_as_given_and_a_bad_one_is_a_config_error(monkeypatch) -> None:
    _load(monkeypatch, busy=6.0)
    assert threads.train_threads(3, n_params=10, cap=8) == 3
    assert threads.data_threads(2) == 2
    for bad in (0, -1, "many", 1.5, True):
        with pytest.raises(ConfigError, match=r"trainer\.threads"):
            threads.parse_threads(bad)


def test_busy_elsewhere_reads_the_load_and_the_runnable_count_less_this_process() -> None:
    assert threads.busy_elsewhere("0.08 0.02 0.01 1/200 4242") == 0.0  # idle: only us
    assert threads.busy_elsewhere("3.50 2.00 1.00 2/300 4242") == 2.5  # the load, lagging
    assert threads.busy_elsewhere("0.20 0.10 0.10 5/300 4242") == 4.0  # four just started
    assert threads.busy_elsewhere() >= 0.0  # this machine's own file parses


def test_idle_openmp_threads_sleep_unless_the_user_chose() -> None:
    code = "import cellsweep, os; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "PASSIVE"
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "ACTIVE"


def test_a_run_trains_on_the_chosen_threads_and_gives_them_back(tmp_path, monkeypatch) -> None:
    """The chemotaxis MLP is small: auto trains it on one thread; the process's own setting
    is back after the run (a sweep worker's next trial starts from its share)."""
    import lightning as L

    seen: list[int] = []
    fit = L.Trainer.fit

    def spy(self, *a, **k):
        seen.append(torch.get_num_threads())
        return fit(self, *a, **k)

    monkeypatch.setattr(L.Trainer, "fit", spy)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        code, _, err = run_train([*TINY, *store_overrides(tmp_path), "tracking.enabled=false"])
        assert code == 0, err
        assert seen == [1]
        assert torch.get_num_threads() == 2
        code, _, err = run_train(
            [*TINY, *store_overrides(tmp_path), "tracking.enabled=false", "trainer.threads=2"]
        )
        assert code == 0, err
        assert seen == [1, 2]
    finally:
        torch.set_num_threads(before)
