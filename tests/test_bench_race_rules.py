"""The rules the issue-28 benchmarks decide by: the sampler rule of benchmarks/README.md, the
1 % band, each tool's best-so-far curve and the race's targets (no study is run here)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import peer_race
import sampler_choice as sc


def _sampler(scored: list[int], reached: int, ask: float = 0.001, trial_s: float = 2.0) -> dict:
    return {
        "scored": scored,
        "median_trials": sorted(scored)[len(scored) // 2],
        "reached": reached,
        "ask_s": {"100": ask},
        "median_trial_s": trial_s,
    }


def test_a_sampler_replaces_tpe_only_when_it_wins_every_seed_by_enough() -> None:
    tpe = _sampler([20, 25, 30], 3)
    clear = _sampler([10, 12, 15], 3)
    assert sc.recommend({"tpe": tpe, "gp": clear}, "100")["sampler"] == "gp"
    # a better median but one seed lost: within noise, TPE stays
    mixed = _sampler([10, 12, 31], 3)
    assert sc.recommend({"tpe": tpe, "gp": mixed}, "100")["sampler"] == "tpe"
    # every seed won, by less than 20 % at the median
    slight = _sampler([19, 23, 29], 3)
    assert sc.recommend({"tpe": tpe, "gp": slight}, "100")["sampler"] == "tpe"


def test_a_sampler_whose_ask_costs_a_trial_does_not_replace_tpe() -> None:
    tpe = _sampler([20, 25, 30], 3, trial_s=2.0)
    slow = _sampler([10, 12, 15], 3, ask=0.5)  # 25 % of a 2 s trial
    out = sc.recommend({"tpe": tpe, "gp": slow}, "100")
    assert out["sampler"] == "tpe"
    assert out["checks"]["gp"]["ask at 100 trials < 5% of a trial"] is False


def test_trials_to_band_counts_pruned_trials_and_only_complete_values() -> None:
    trials = [
        {"number": 0, "state": "COMPLETE", "value": 1.0},
        {"number": 1, "state": "PRUNED", "value": None},
        {"number": 2, "state": "COMPLETE", "value": 0.5},
    ]
    assert sc.trials_to_band(trials, 0.505) == 3
    assert sc.trials_to_band(trials, 0.4) is None


def test_band_is_relative_except_around_zero() -> None:
    assert sc.band([0.25, 0.3, 0.4], control=False) == (0.25, pytest.approx(0.2525))
    best, threshold = sc.band([0.0, 1.0, 3.0], control=True)
    assert best == 0.0 and threshold == pytest.approx(0.01)


def test_sampler_overrides_change_only_the_sampler() -> None:
    assert sc.sampler_overrides("chemotaxis/window", "tpe", 0) == []
    assert sc.sampler_overrides("chemotaxis/window", "gp", 1) == [
        "hydra.sweeper.sampler._target_=optuna.samplers.GPSampler"
    ]
    # the control's node is the tpe group's: another sampler starts from random's two keys
    assert sc.sampler_overrides("control", "gp", 2) == [
        "hydra/sweeper/sampler=random",
        "hydra.sweeper.sampler._target_=optuna.samplers.GPSampler",
        "hydra.sweeper.sampler.seed=2",
    ]


def test_best_so_far_follows_each_tools_pick_rule() -> None:
    trials = [
        {"end_s": 3.0, "pred_err": 0.5, "eligible": True},
        {"end_s": 1.0, "pred_err": 0.1, "eligible": False},  # pruned: not a pick under Optuna
        {"end_s": 2.0, "pred_err": 0.7, "eligible": True},
        {"end_s": 4.0, "pred_err": 0.6, "eligible": True},
    ]
    assert peer_race.curve(trials) == [(2.0, 0.7), (3.0, 0.5), (4.0, 0.5)]


def test_race_targets_are_medians_of_ratios_within_a_seed_and_a_missing_peer_is_said() -> None:
    def row(t: float, s: float) -> dict:
        return {"time_to_best_s": t, "chosen_S_rel_err": s}

    per_seed = {
        0: {"cellsweep": row(10, 0.05), "ray": row(20, 0.05), "stock": {"error": "exit 1"}},
        1: {"cellsweep": row(30, 0.05), "ray": row(20, 0.05), "stock": {"error": "exit 1"}},
        2: {"cellsweep": row(10, 0.06), "ray": row(25, 0.05), "stock": {"error": "exit 1"}},
    }
    targets = {t["name"]: t for t in peer_race.targets_of(per_seed)}
    time_ray = targets["time to final best, cellsweep / ray"]
    assert time_ray["value"] == 0.5 and time_ray["met"]
    assert targets["chosen trial's val/S_rel_err, cellsweep / ray"]["value"] == 1.0
    stock = targets["time to final best, cellsweep / stock"]
    assert stock["value"] == "did not run" and not stock["met"]
