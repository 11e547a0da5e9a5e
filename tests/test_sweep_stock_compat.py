"""The stock plugin's behaviours, unit by unit: what a job may return, the deprecated
`search_space`, the grid, `~key` deletions, the custom search space, the results file, and the
command a worker relaunches."""

from __future__ import annotations

import contextlib
import sys
import types
from pathlib import Path

import numpy as np
import optuna
import pytest
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from cellsweep.errors import ConfigError
from cellsweep.sweep.plugin import defaults
from cellsweep.sweep.plugin import run as relaunch
from cellsweep.sweep.report.results import write_results
from cellsweep.sweep.space import stock
from cellsweep.sweep.space.grammar import parse_space, suggest
from cellsweep.sweep.study.record import outcome_of


@pytest.mark.parametrize(
    ("result", "names", "values"),
    [
        (1.5, ["value"], [1.5]),
        (3, ["value"], [3.0]),
        (np.float32(0.25), ["value"], [0.25]),
        ([1.0, 2], ["a", "b"], [1.0, 2.0]),
        ((4, 5.5), ["a", "b"], [4.0, 5.5]),
        (OmegaConf.create([1, 2]), ["a", "b"], [1.0, 2.0]),
        ({"val/loss": 0.5, "other": 9}, ["val/loss"], [0.5]),
    ],
)
def test_a_job_may_return_a_number_a_sequence_or_named_metrics(result, names, values) -> None:
    out = outcome_of(result, None, names)
    assert out.state == TrialState.COMPLETE and out.values == values


@pytest.mark.parametrize(
    ("result", "names", "reason"),
    [
        (None, ["value"], "NoneType, not a number"),
        ("fast", ["value"], "str, not a number"),
        ([1.0], ["a", "b"], "1 value(s) for 2 direction(s)"),
        (1.0, ["a", "b"], "1 value(s) for 2 direction(s)"),
        (float("nan"), ["value"], "objective value is nan"),
        ({"x": 1.0}, ["val/loss"], "'val/loss' was not logged"),
    ],
)
def test_what_cannot_be_a_value_fails_the_trial_with_a_reason(result, names, reason) -> None:
    out = outcome_of(result, None, names)
    assert out.state == TrialState.FAIL and reason in out.reason


def test_deprecated_search_space_entries_become_distributions() -> None:
    d = stock.legacy_distribution
    assert d("a", {"type": "int", "low": 1, "high": 9, "step": 2}) == IntDistribution(1, 9, step=2)
    assert d("a", {"type": "float", "low": 1e-4, "high": 1, "log": True}) == FloatDistribution(
        1e-4, 1.0, log=True
    )
    assert d("a", {"type": "categorical", "choices": [1, "x"]}) == CategoricalDistribution([1, "x"])
    for bad in (
        {"type": "float"},
        {"type": "normal", "low": 0, "high": 1},
        {"type": "int", "lo": 1},
    ):
        with pytest.raises(ConfigError, match=r"search_space\.a"):
            d("a", bad)


def test_params_win_over_search_space_as_in_the_stock_plugin() -> None:
    space = parse_space({"x": "choice(1, 2)"})
    stock.add_legacy_space(space, {"y": {"type": "int", "low": 0, "high": 3}}, {"x": "choice(1,2)"})
    assert set(space.distributions) == {"x"}
    space = parse_space({})
    stock.add_legacy_space(space, {"y": {"type": "int", "low": 0, "high": 3}}, {})
    assert space.distributions == {"y": IntDistribution(0, 3)}


def test_n_jobs_is_n_workers() -> None:
    assert stock.workers(1, 4) == 4 and stock.workers(3, None) == 3 and stock.workers(2, 2) == 2
    with pytest.raises(ConfigError, match="n_jobs"):
        stock.workers(3, 2)


def test_grid_takes_every_point_of_the_discrete_space_and_refuses_a_continuous_one() -> None:
    space = parse_space({"a": "choice(x, y)", "b": "range(1, 7, 2)", "c": "int(interval(0, 2))"})
    sampler, points = stock.grid_sampler({"_target_": stock.GRID_TARGET, "seed": 0}, space)
    assert points == 2 * 3 * 3
    study = optuna.create_study(sampler=sampler)
    seen = set()
    for _ in range(points):
        trial = study.ask()
        suggest(trial, space)
        seen.add(tuple(trial.params[k] for k in "abc"))
        with contextlib.suppress(RuntimeError):  # the last point stops the study (Study.stop)
            study.tell(trial, 0.0)
    assert len(seen) == points
    with pytest.raises(ConfigError, match=r"'d'.*grid sampler"):
        stock.grid_sampler({}, parse_space({"d": "interval(0.0, 1.0)"}))


def test_a_sampler_from_the_group_takes_the_app_seed_unless_it_has_one() -> None:
    assert stock.fill_seed({"_target_": "t", "seed": None}, 7)["seed"] == 7
    assert stock.fill_seed({"_target_": "t", "seed": 3}, 7)["seed"] == 3


def test_tilde_keys_in_params_delete_and_cannot_be_swept() -> None:
    space = parse_space({"x": "choice(1, 2)", "~penalty": None, "~extra": 5})
    trial = optuna.create_study().ask()
    assert suggest(trial, space)[-2:] == ["~penalty", "~extra=5"]
    with pytest.raises(ConfigError, match=r"'~x'.*cannot be swept"):
        parse_space({"~x": "choice(1, 2)"})


def test_custom_search_space_runs_after_params_and_its_draws_become_overrides() -> None:
    calls = []

    def extend(cfg, trial) -> None:
        calls.append(dict(trial.params))  # the params are already drawn
        trial.suggest_float("z", trial.params["x"], trial.params["x"] + cfg.gap)

    module = types.ModuleType("custom_space_fixture")
    module.extend = extend
    sys.modules["custom_space_fixture"] = module
    try:
        space = parse_space({"x": "interval(0.0, 1.0)"})
        stock.add_custom_space(space, "custom_space_fixture.extend", OmegaConf.create({"gap": 0.1}))
        trial = optuna.create_study().ask()
        overrides = suggest(trial, space)
    finally:
        del sys.modules["custom_space_fixture"]
    assert list(calls[0]) == ["x"]
    assert [o.split("=")[0] for o in overrides] == ["x", "z"]
    assert trial.params["x"] <= trial.params["z"] <= trial.params["x"] + 0.1
    with pytest.raises(ConfigError, match=r"custom_search_space=nosuch\.fn"):
        stock.add_custom_space(space, "nosuch.fn", OmegaConf.create({}))


def test_results_file_has_the_stock_format(tmp_path) -> None:
    study = optuna.create_study()
    assert write_results(study, tmp_path) is None  # nothing completed: no file
    for x in (3.0, 1.0, 2.0):
        study.enqueue_trial({"x": x})
        trial = study.ask()
        trial.suggest_float("x", 0, 5)
        study.tell(trial, x * x)
    single = OmegaConf.load(write_results(study, tmp_path))
    assert OmegaConf.to_container(single) == {
        "name": "optuna",
        "best_params": {"x": 1.0},
        "best_value": 1.0,
    }
    multi = optuna.create_study(directions=["minimize", "maximize"])
    for x, y in ((1.0, 1.0), (2.0, 3.0), (3.0, 2.0)):
        multi.add_trial(
            optuna.trial.create_trial(
                params={"x": x},
                distributions={"x": FloatDistribution(0, 5)},
                values=[x, y],
            )
        )
    front = OmegaConf.load(write_results(multi, tmp_path / "mo")).solutions
    assert sorted(tuple(s["values"]) for s in front) == [(1.0, 1.0), (2.0, 3.0)]


def test_workers_relaunch_the_app_that_was_started(tmp_path, monkeypatch) -> None:
    script = tmp_path / "my_app.py"
    script.write_text("")
    as_main = types.SimpleNamespace(__module__="__main__")
    main = types.ModuleType("__main__")
    main.__spec__ = None
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.setattr(sys, "argv", ["my_app.py", "-m", "x=1"])
    assert relaunch.app_command(as_main, tmp_path) == [sys.executable, str(script)]
    main.__spec__ = types.SimpleNamespace(name="pkg.app")  # python -m pkg.app
    assert relaunch.app_command(as_main, tmp_path) == [sys.executable, "-m", "pkg.app"]
    console = types.SimpleNamespace(__module__="pkg.train")  # an entry point's wrapper script
    monkeypatch.setattr(sys, "argv", [str(script), "-m"])
    assert relaunch.app_command(console, tmp_path) == [sys.executable, str(script)]
    monkeypatch.setattr(sys, "argv", ["not-a-file", "-m"])  # called in-process
    assert relaunch.app_command(console, tmp_path) == [sys.executable, "-m", "pkg.train"]


def test_defaults_need_no_key_in_the_app_and_each_can_be_turned_off(tmp_path) -> None:
    hydra_node = {"runtime": {"cwd": str(tmp_path)}, "job": {"name": "app"}}
    plain = OmegaConf.create({"hydra": hydra_node, "storage": "s3://bucket"})  # the app's own key
    tracking = defaults.tracking_config(plain, None)
    assert tracking["uri"] == f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    assert tracking["experiment"] == "app"
    assert defaults.tracking_config(plain, False) is None
    assert defaults.tracking_config(plain, {"experiment": "e"})["experiment"] == "e"
    assert defaults.sweeps_dir(plain, None) == tmp_path / "sweeps"
    assert defaults.sweeps_dir(plain, "/elsewhere") == Path("/elsewhere")
    assert defaults.storage_spec(plain, None) is None  # the journal file in sweeps_dir
    assert defaults.storage_spec(plain, "memory") == "memory"
    own = OmegaConf.create(  # cellsweep-train's nodes are used when the sweeper says nothing
        {
            "hydra": hydra_node,
            "tracking": {"enabled": False, "uri": "sqlite:///x.db"},
            "paths": {"sweeps_dir": "/s"},
            "storage": {"name": "postgres", "url": None},
        }
    )
    assert defaults.tracking_config(own, None) is None
    assert defaults.sweeps_dir(own, None) == Path("/s")
    with pytest.raises(ConfigError, match="CELLSWEEP_OPTUNA_STORAGE"):
        defaults.storage_spec(own, None)
