"""Search-space grammar (Hydra's stock Optuna sweeper) -> Optuna 5 distributions and overrides."""

from __future__ import annotations

import math
from typing import Any

import optuna
import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from cellsweep.errors import ConfigError
from cellsweep.sweep.space.grammar import SearchSpace, parse_space, suggest, to_override

optuna.logging.set_verbosity(optuna.logging.WARNING)

HYDRA = OverridesParser.create()


def hydra_value(override: str) -> Any:
    """What stock Hydra makes of one ``key=value`` override (the value a job would see)."""
    (parsed,) = HYDRA.parse_overrides([override])
    assert not parsed.is_sweep_override(), override
    return parsed.value()


def one(grammar: Any, key: str = "task.x") -> Any:
    space = parse_space({key: grammar})
    assert list(space.distributions) == [key]
    assert space.fixed == {}
    return space.distributions[key]


# --- grammar -> distribution --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grammar", "expected"),
    [
        ("interval(0.0, 1.0)", FloatDistribution(0.0, 1.0)),
        ("interval(1e-5, 0.5)", FloatDistribution(1e-5, 0.5)),
        ("interval(-2.5, -0.5)", FloatDistribution(-2.5, -0.5)),
        ("interval(8, 64)", IntDistribution(8, 64)),
        ("interval(-3, 3)", IntDistribution(-3, 3)),
        ("int(interval(1.5, 3.7))", IntDistribution(1, 3)),
        ("float(interval(1, 3))", FloatDistribution(1.0, 3.0)),
        ("tag(log, interval(1e-4, 1e-1))", FloatDistribution(1e-4, 1e-1, log=True)),
        ("tag(log, interval(1, 1024))", IntDistribution(1, 1024, log=True)),
        ("tag(log, int(interval(2.0, 9.9)))", IntDistribution(2, 9, log=True)),
        ("range(0, 10)", IntDistribution(0, 9)),
        ("range(5)", IntDistribution(0, 4)),
        ("range(16, 129, 16)", IntDistribution(16, 128, step=16)),
        ("range(1, 10, 3)", IntDistribution(1, 7, step=3)),
        ("range(-6, 0, 2)", IntDistribution(-6, -2, step=2)),
        ("range(0.0, 1.0, 0.25)", FloatDistribution(0.0, 0.75, step=0.25)),
        ("range(0, 1, 0.1)", FloatDistribution(0.0, 0.9, step=0.1)),
        ("range(1, 2, 0.3)", FloatDistribution(1.0, 1.9, step=0.3)),
        ("float(range(0, 3))", FloatDistribution(0.0, 2.0, step=1.0)),
        ("shuffle(range(1, 4))", CategoricalDistribution([1, 2, 3])),
        ("shuffle(range(0, 1, 0.25))", CategoricalDistribution([0.0, 0.25, 0.5, 0.75])),
        ("choice(relu, tanh, gelu)", CategoricalDistribution(["relu", "tanh", "gelu"])),
        ("choice(1, 2, 4)", CategoricalDistribution([1, 2, 4])),
        ("choice(1e-3, 0.1)", CategoricalDistribution([0.001, 0.1])),
        ("choice(true, false)", CategoricalDistribution([True, False])),
        ("choice('1', 2)", CategoricalDistribution(["1", 2])),
        ("choice('a b', 'c,d')", CategoricalDistribution(["a b", "c,d"])),
        ("relu,tanh", CategoricalDistribution(["relu", "tanh"])),
        ("a,null,'x y'", CategoricalDistribution(["a", None, "x y"])),
        ("shuffle(choice(a, b))", CategoricalDistribution(["a", "b"])),
        ("sort(choice(3, 1, 2))", CategoricalDistribution([1, 2, 3])),
    ],
)
def test_grammar_maps_to_distribution(grammar: str, expected: Any) -> None:
    got = one(grammar)
    assert type(got) is type(expected)
    assert got == expected  # Optuna compares every attribute: bounds, log, step, choices
    if isinstance(expected, CategoricalDistribution):
        assert [type(c) for c in got.choices] == [type(c) for c in expected.choices]
    else:
        assert type(got.low) is type(expected.low) and type(got.high) is type(expected.high)


@pytest.mark.parametrize(
    ("grammar", "kind"),
    [
        ("interval(1, 2)", IntDistribution),
        ("interval(1.0, 2)", FloatDistribution),
        ("interval(1, 2.0)", FloatDistribution),
        ("interval(1, 2.5)", FloatDistribution),
        ("float(interval(1, 2))", FloatDistribution),
        ("int(interval(1.0, 2.0))", IntDistribution),
        ("tag(log, interval(1, 10))", IntDistribution),
        ("tag(log, interval(1, 10.0))", FloatDistribution),
        ("range(0, 4)", IntDistribution),
        ("range(0, 4, 0.5)", FloatDistribution),
        ("range(0.0, 4)", FloatDistribution),
        ("int(range(0.0, 4.0))", IntDistribution),
    ],
)
def test_int_versus_float(grammar: str, kind: type) -> None:
    """Int literals at both ends mean an integer key (Hydra's interval() alone makes floats)."""
    assert type(one(grammar)) is kind


@pytest.mark.parametrize(
    ("grammar", "values"),
    [
        ("range(0, 5)", [0, 1, 2, 3, 4]),
        ("range(0, 10, 5)", [0, 5]),
        ("range(3, 4)", [3]),
        ("range(0, 1, 0.5)", [0.0, 0.5]),
        ("range(0, 0.9, 0.3)", [0.0, 0.3, 0.6]),
        ("range(0.5, 0.6, 0.1)", [0.5]),
    ],
)
def test_range_stop_is_exclusive(grammar: str, values: list[float]) -> None:
    dist = one(grammar)
    step = dist.step
    n = round((dist.high - dist.low) / step) + 1
    assert [dist.low + k * step for k in range(n)] == pytest.approx(values)
    assert type(dist.low) is type(values[0])


def test_huge_float_range_is_not_enumerated() -> None:
    assert one("range(0, 1e9, 0.001)") == FloatDistribution(0.0, 999_999_999.999, step=0.001)


def test_choice_of_lists_keeps_hydra_text_and_is_verbatim() -> None:
    space = parse_space({"model.widths": "choice([64,64], [128, 'a b'])"})
    assert space.distributions["model.widths"] == CategoricalDistribution(
        ["[64,64]", "[128,'a b']"]
    )
    assert space.verbatim == {"model.widths": frozenset({"[64,64]", "[128,'a b']"})}


def test_plain_values_are_fixed() -> None:
    params = {
        "model.depth": 3,
        "task.optim.lr": 1e-4,
        "model.activation": "relu",
        "trainer.deterministic": True,
        "task.val.start_steps": [50, 100],
        "task.names": ["a b", "c"],
        "task.estimator.D": None,
        "task.sim.signal": {"offset": 0.0, "slope": 1},
        "run_name": "'my run'",
        "task.data.source": "csv",
        "task.tag": "1",
    }
    space = parse_space(params)
    assert space.distributions == {}
    assert space.fixed == {
        "model.depth": "3",
        "task.optim.lr": "0.0001",
        "model.activation": "relu",
        "trainer.deterministic": "true",
        "task.val.start_steps": "[50,100]",
        "task.names": "['a b',c]",
        "task.estimator.D": "null",
        "task.sim.signal": "{offset:0.0,slope:1}",
        "run_name": "'my run'",
        "task.data.source": "csv",
        "task.tag": "1",  # a string value is override text, as in the stock plugin: int 1
    }
    for key, text in space.fixed.items():
        expected = params[key]
        if key == "run_name":
            expected = "my run"
        elif key == "task.tag":
            expected = 1
        assert hydra_value(f"{key}={text}") == expected


def test_omegaconf_params_are_accepted() -> None:
    params = OmegaConf.create({"model.width": "choice(16, 32)", "task.val.start_steps": [1, 2]})
    space = parse_space(params)
    assert space.distributions["model.width"] == CategoricalDistribution([16, 32])
    assert space.fixed == {"task.val.start_steps": "[1,2]"}


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "grammar",
    [
        "interval(0, 1",  # syntax
        "interval(a, b)",  # Hydra's argument types
        "str(interval(1, 2))",
        "interval(2.0, 1.0)",
        "interval(3, 1)",
        "interval(1.0, 1.0)",
        "int(interval(0.1, 0.9))",  # both ends cast to 0
        "interval(true, 2)",
        "interval(0.0, inf)",
        "tag(log, interval(0.0, 1.0))",
        "tag(log, interval(-2, -1))",
        "tag(log, interval(0, 10))",
        "tag(lgo, interval(1, 2))",
        "tag(log, choice(1, 2))",
        "tag(log, range(1, 5))",
        "choice()",
        "shuffle(choice())",
        "choice(a, a)",
        "choice(1, true)",
        "choice(1, 1.0)",
        "choice('[1]', [1])",
        "choice(nan, 1.0)",
        "choice(1, 2),3",
        "range(5, 0)",
        "range(0)",
        "range(0.5, 0.5, 0.1)",
        "range(0, 10, 0)",
        "range(0, 10, -1)",
        "range(10, 0, -1)",
        "range(0.0, 1.0, -0.1)",
        "range(0, 10, true)",
        "shuffle(range(0, 1000000))",
        "glob(*)",
    ],
)
def test_malformed_entries_raise_one_line_config_error(grammar: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_space({"model.hidden_width": "choice(1, 2)", "task.window_steps": grammar})
    message = str(info.value)
    assert "\n" not in message
    assert "task.window_steps" in message
    assert "model.hidden_width" not in message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("a b", 1),
        ("a=b", 1),
        ("~task.x", "choice(1, 2)"),  # a deletion cannot be swept
        ("", 1),
        ("task.x", object()),
    ],
)
def test_bad_keys_and_values_raise_config_error(key: str, value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        parse_space({key: value})
    assert "\n" not in str(info.value)
    assert repr(key) in str(info.value)


def test_error_names_the_problem() -> None:
    with pytest.raises(ConfigError, match=r"'task.x'.*needs start < end"):
        parse_space({"task.x": "interval(1.0, 0.5)"})
    with pytest.raises(ConfigError, match=r"'task.x'.*empty choice"):
        parse_space({"task.x": "choice()"})
    with pytest.raises(ConfigError, match=r"'task.x'.*unknown tag lgo"):
        parse_space({"task.x": "tag(lgo, interval(1, 2))"})
    with pytest.raises(ConfigError, match=r"'task.x'.*no values"):
        parse_space({"task.x": "range(3, 3)"})


# --- to_override --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        0,
        7,
        -3,
        10**18,
        0.1,
        1e-4,
        1e-12,
        2.5e16,
        -0.001,
        -1e-4,
        3.0,
        1 / 3,
        0.30000000000000004,
        True,
        False,
        None,
        "relu",
        "model/mlp",
        "1",
        "-2",
        "1e-4",
        "true",
        "null",
        "inf",
        "",
        "a b",
        "a,b",
        "k=v",
        "it's",
        'say "hi"',
        "both ' and \"",
        "back\\slash",
        "end\\",
        "\\'",
        "choice(a,b)",
        "interval(0,1)",
        "${x}",
        "[1,2]",
        [1, 2],
        [0.1, "a b", True, None],
        [],
    ],
)
def test_to_override_round_trips_through_hydra(value: Any) -> None:
    text = to_override("task.optim.x", value)
    assert text.startswith("task.optim.x=")
    back = hydra_value(text)
    assert back == value
    assert type(back) is type(value)
    if isinstance(value, float):
        assert repr(back) == repr(value)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("relu", "model.activation=relu"),
        (0.001, "model.activation=0.001"),
        (1e-4, "model.activation=0.0001"),
        (-5, "model.activation=-5"),
        (True, "model.activation=true"),
        ("1", "model.activation='1'"),
        ("a,b", "model.activation='a,b'"),
    ],
)
def test_to_override_text(value: Any, text: str) -> None:
    assert to_override("model.activation", value) == text


# --- suggest ------------------------------------------------------------------------------------

PARAMS = {
    "task.optim.lr": "tag(log, interval(1e-5, 1e-1))",
    "task.optim.weight_decay": "interval(0.0, 0.1)",
    "task.loss.tau": "range(0.1, 1.0, 0.1)",
    "task.window_steps": "interval(10, 200)",
    "task.bins": "range(10, 101, 10)",
    "model.width": "tag(log, interval(8, 512))",
    "model.activation": "choice(relu, tanh, 'soft plus')",
    "model.depth": "choice(1, 2, 3)",
    "task.estimator.learn_D": "choice(true, false)",
    "model.layers": "choice([64,64], [32])",
    "task.data.source": "simulate",
    "seed": 7,
}


def test_suggest_samples_inside_the_distributions() -> None:
    space = parse_space(PARAMS)
    assert set(space.fixed) == {"task.data.source", "seed"}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen: dict[str, set[Any]] = {name: set() for name in space.distributions}
    for _ in range(20):
        trial = study.ask()
        overrides = suggest(trial, space)
        keys = [o.split("=", 1)[0] for o in overrides]
        assert keys == sorted(PARAMS)
        values = {key: hydra_value(o) for key, o in zip(keys, overrides, strict=True)}
        assert values["task.data.source"] == "simulate" and values["seed"] == 7
        for name, dist in space.distributions.items():
            value = values[name]
            if isinstance(dist, CategoricalDistribution):
                if name in space.verbatim:
                    assert value in [hydra_value(f"k={c}") for c in dist.choices]
                    assert isinstance(value, list)
                else:
                    assert value in dist.choices
                    assert value == trial.params[name]
                    assert type(value) is type(trial.params[name])
            else:
                assert value == trial.params[name]
                assert dist.low <= value <= dist.high
                if isinstance(dist, IntDistribution):
                    assert type(value) is int
                    assert (value - dist.low) % dist.step == 0
                else:
                    assert type(value) is float
                    if dist.step is not None:
                        k = (value - dist.low) / dist.step
                        assert math.isclose(k, round(k), abs_tol=1e-9)
            seen[name].add(repr(value))
        study.tell(trial, 0.0)
    assert all(len(v) > 1 for v in seen.values()), seen  # every parameter actually varied


def test_suggest_gives_the_same_overrides_whatever_order_the_space_was_written_in() -> None:
    """A trial's overrides (recorded on it, recomposed by adopt, its rerun command) depend on
    the values drawn, not on the order of the space's entries."""
    forward = parse_space(PARAMS)
    backward = parse_space(dict(reversed(list(PARAMS.items()))))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(3):
        trial = study.ask()
        drawn = suggest(trial, forward)
        assert drawn == sorted(drawn) and len(drawn) == len(PARAMS)
        assert suggest(optuna.trial.FixedTrial(trial.params), backward) == drawn


def test_suggest_refuses_a_key_both_sampled_and_fixed() -> None:
    space = SearchSpace(
        distributions={"model.width": IntDistribution(1, 4)}, fixed={"model.width": "3"}
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    with pytest.raises(ConfigError, match=r"model\.width"):
        suggest(study.ask(), space)
