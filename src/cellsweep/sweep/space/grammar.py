"""Search spaces written in the grammar of Hydra's stock Optuna sweeper, as Optuna 5 distributions.

A study's ``params`` map a dotted config key to a Hydra override value::

    task.window_steps: interval(10, 200)       # IntDistribution(10, 200): both ends are ints
    task.optim.lr: tag(log, interval(1e-4, 1e-1))
    model.width: range(16, 129, 16)            # IntDistribution(16, 128, step=16)
    model.activation: choice(relu, tanh, gelu)
    model.depth: 3                             # not a sweep: passed through as an override

Entries are parsed by Hydra's own override parser, so the grammar (quoting, casts such as
``int(...)``, ``tag``, ``shuffle``) is exactly Hydra's. Deliberate differences from the stock
plugin, so a sweep samples what the grammar says:

* ``interval(a, b)`` with two int literals gives an ``IntDistribution``. Hydra's ``interval()``
  turns its ends into floats, so the stock plugin's int check never fires and an integer key
  such as ``task.window_steps`` would be handed ``57.3``; here the parser keeps the ints, and
  ``float(interval(1, 10))`` still asks for floats.
* ``range(a, b, step)`` excludes ``b`` as Hydra's range does (the stock plugin includes it).
  Float ranges are counted in the decimals as written (``range(0, 0.9, 0.3)`` is 0, 0.3, 0.6),
  where Hydra's binary floating point would let ``0.8999999999999999`` in.

Every malformed entry raises a one-line :class:`~cellsweep.errors.ConfigError` that names its key;
no Hydra or Optuna exception leaves :func:`parse_space`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from functools import cache, lru_cache
from numbers import Integral, Real
from typing import Any

import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    ChoiceSweep,
    IntervalSweep,
    Override,
    Quote,
    QuotedString,
    RangeSweep,
    Sweep,
    Transformer,
    ValueType,
)
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from cellsweep.errors import ConfigError
from cellsweep.sweep import compat

__all__ = ["SearchSpace", "parse_space", "suggest", "to_override"]

#: Tags the sampler understands; anything else is a typo that would otherwise be ignored silently.
KNOWN_TAGS = frozenset({"log"})

#: Most values a shuffled range may expand to: beyond this a categorical is the wrong tool.
MAX_CATEGORICAL_VALUES = 10_000


@dataclass
class SearchSpace:
    """What a study samples (``distributions``) and what every trial gets unchanged (``fixed``).

    ``fixed`` holds override value text (``"[1,2]"``, ``"relu"``), ready to go after ``key=``.
    ``verbatim`` names, per categorical key, the choices that are Hydra override text for a list
    or dict (Optuna's categoricals hold only scalars): those are written into the override as
    they are instead of being quoted as strings.
    """

    distributions: dict[str, BaseDistribution]
    fixed: dict[str, str]
    verbatim: dict[str, frozenset[str]] = field(default_factory=dict)
    #: ``~key`` (or ``~key=value``) overrides: keys every trial deletes from the app's config
    deletes: list[str] = field(default_factory=list)
    #: the stock ``custom_search_space`` hook: called with the trial after the params are
    #: suggested; whatever it suggests becomes an override of the trial too
    extend: Callable[[optuna.trial.Trial], None] | None = None


def parse_space(params: Mapping[str, Any]) -> SearchSpace:
    """Turn a study's ``params`` (config key -> grammar string or plain value) into a space.

    Checks every entry up front, so a typo fails the study before its first trial rather than
    in the middle of a sweep.
    """
    distributions: dict[str, BaseDistribution] = {}
    fixed: dict[str, str] = {}
    verbatim: dict[str, frozenset[str]] = {}
    deletes: list[str] = []
    for key, raw in params.items():
        if not isinstance(key, str) or not key.strip():
            raise ConfigError(f"search space entry {key!r}: the key must be a dotted config key")
        if key.startswith("~"):  # a deletion, as on the command line: `~key` or `~key=value`
            deletes.append(_deletion(key, raw))
            continue
        override = _parse_entry(key, raw)
        if not override.is_sweep_override():
            fixed[key] = _format_value(key, override.value())
            continue
        distribution, encoded = _distribution(key, override)
        distributions[key] = distribution
        if encoded:
            verbatim[key] = encoded
    return SearchSpace(distributions=distributions, fixed=fixed, verbatim=verbatim, deletes=deletes)


def to_override(key: str, value: Any) -> str:
    """The command-line override ``key=value`` that Hydra parses back to exactly ``value``.

    Floats use ``repr`` (shortest text that round-trips); strings stay bare when Hydra would read
    them back unchanged (``relu``) and are quoted otherwise (``'1'``, ``'a,b'``, ``'true'``).
    """
    return f"{key}={_format_value(key, value)}"


def suggest(trial: optuna.trial.Trial, space: SearchSpace) -> list[str]:
    """Sample every distribution through the trial's public API; return the overrides by key.

    The public ``suggest_*`` calls (not the private ``Trial._suggest``) keep this working across
    Optuna releases; fixed entries are included so the list is a trial's complete override set.
    """
    overrides: dict[str, str] = {}
    for name, dist in space.distributions.items():
        if isinstance(dist, FloatDistribution):
            value: Any = trial.suggest_float(
                name, dist.low, dist.high, step=dist.step, log=dist.log
            )
        elif isinstance(dist, IntDistribution):
            value = trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
        elif isinstance(dist, CategoricalDistribution):
            value = trial.suggest_categorical(name, dist.choices)
            if isinstance(value, str) and value in space.verbatim.get(name, frozenset()):
                overrides[name] = f"{name}={value}"
                continue
        else:
            raise ConfigError(
                f"search space entry {name!r}: unsupported distribution {type(dist).__name__}"
            )
        overrides[name] = to_override(name, value)
    if space.extend is not None:
        space.extend(trial)
        for name, value in trial.params.items():  # what the hook suggested
            if name not in overrides:
                overrides[name] = to_override(name, value)
    for key, text in space.fixed.items():
        if key in overrides:
            raise ConfigError(f"search space entry {key!r}: both sampled and fixed")
        overrides[key] = f"{key}={text}"
    return [overrides[key] for key in sorted(overrides)] + space.deletes


# --- parsing ------------------------------------------------------------------------------------


def _error(key: str, reason: str) -> ConfigError:
    return ConfigError(f"search space entry {key!r}: {reason}")


def _interval_keeping_ints(start: Any, end: Any) -> IntervalSweep:
    """Hydra's ``interval()``, minus its float cast: the ends keep the type they were written in."""
    return IntervalSweep(start=start, end=end)


@cache
def _parser() -> OverridesParser:
    """Hydra's override parser with every stock function, ``interval`` swapped as above."""
    return compat.override_parser({"interval": _interval_keeping_ints})


def _hydra_reason(exc: Exception) -> str:
    """The informative part of a Hydra parse error, on one line (no URL, no caret line)."""
    lines = [line.strip() for line in str(exc).splitlines()]
    keep = [
        line
        for line in lines
        if line and line != "^" and not line.startswith(("See https://", "Error parsing override"))
    ]
    return "; ".join(keep) or type(exc).__name__


def _parse_entry(key: str, raw: Any) -> Override:
    text = raw if isinstance(raw, str) else _format_value(key, raw)
    line = f"{key}={text}"
    try:
        (override,) = _parser().parse_overrides([line])
    except Exception as exc:  # Hydra raises several types (parse, type, OmegaConf validation)
        raise _error(key, f"cannot parse {line!r}: {_hydra_reason(exc)}") from exc
    if override.get_key_element() != key:
        raise _error(key, f"not a config key (Hydra reads it as {override.get_key_element()!r})")
    return override


def _deletion(key: str, raw: Any) -> str:
    """``~key`` (no value: delete whatever is there) or ``~key=value`` (only if it holds value),
    checked by Hydra's parser; a sweep cannot delete."""
    text = raw if isinstance(raw, str) else _format_value(key, raw)
    line = key if raw is None or raw == "" else f"{key}={text}"
    try:
        (override,) = _parser().parse_overrides([line])
    except Exception as exc:
        raise _error(key, f"cannot parse {line!r}: {_hydra_reason(exc)}") from exc
    if override.is_sweep_override():
        raise _error(key, "a '~' (delete) override cannot be swept")
    return line


def _distribution(key: str, override: Override) -> tuple[BaseDistribution, frozenset[str]]:
    """The distribution of one sweep override, plus its verbatim (list/dict) choices."""
    if override.value_type == ValueType.GLOB_CHOICE_SWEEP:
        raise _error(key, "glob() needs Hydra's config groups; list the options with choice()")
    sweep = override.value()
    assert isinstance(sweep, Sweep)
    unknown = set(sweep.tags) - KNOWN_TAGS
    if unknown:
        raise _error(key, f"unknown tag {', '.join(sorted(unknown))} (known: log)")
    log = "log" in sweep.tags
    try:
        if isinstance(sweep, IntervalSweep):
            return _interval(key, sweep, log), frozenset()
        if log:
            raise _error(key, "tag(log, ...) applies to interval() only")
        if isinstance(sweep, RangeSweep):
            return _range(key, sweep), frozenset()
        if isinstance(sweep, ChoiceSweep):
            return _choice(key, sweep)
    except ValueError as exc:  # Optuna's own checks, should one of ours have missed a case
        if isinstance(exc, ConfigError):
            raise
        raise _error(key, f"{override.get_value_string()}: {exc}") from exc
    raise _error(key, f"unsupported sweep {type(sweep).__name__}")


def _number(key: str, what: str, value: Any) -> int | float:
    """A finite int or float bound; bools (which Hydra lets through as ints) are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _error(key, f"{what} must be a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise _error(key, f"{what} must be finite, got {value!r}")
    return value


def _interval(key: str, sweep: IntervalSweep, log: bool) -> BaseDistribution:
    low = _number(key, "interval() start", sweep.start)
    high = _number(key, "interval() end", sweep.end)
    if low >= high:
        raise _error(key, f"interval({low}, {high}) needs start < end")
    if log and low <= 0:
        raise _error(key, f"tag(log, interval({low}, {high})) needs start > 0")
    if isinstance(low, int) and isinstance(high, int):
        return IntDistribution(low, high, log=log)
    return FloatDistribution(float(low), float(high), log=log)


def _range(key: str, sweep: RangeSweep) -> BaseDistribution:
    """A range as Hydra defines it (stop excluded), float ranges counted in the decimals written.

    Hydra walks a float range in binary floating point, so ``range(0, 0.9, 0.3)`` would end on
    ``0.8999999999999999`` < 0.9 and include it; here the count is exact decimal arithmetic on the
    numbers as written (``0, 0.3, 0.6``), which is also the grid Optuna's ``step`` check uses.
    """
    start = _number(key, "range() start", sweep.start)
    stop = _number(key, "range() stop", sweep.stop)
    step = _number(key, "range() step", sweep.step)
    shown = f"range({start}, {stop}, {step})"
    if step <= 0:
        raise _error(key, f"{shown} needs step > 0")
    integral = isinstance(start, int) and isinstance(stop, int) and isinstance(step, int)
    if integral:
        count = len(range(start, stop, step))  # the very range Hydra enumerates
        values: Sequence[int | float] = range(start, start + count * step, step)
    else:
        d_start, d_stop, d_step = (Decimal(repr(float(x))) for x in (start, stop, step))
        count = max(0, math.ceil((Fraction(d_stop) - Fraction(d_start)) / Fraction(d_step)))
        values = _DecimalGrid(d_start, d_step, count)
    if count == 0:
        raise _error(key, f"{shown} holds no values (the stop is excluded)")
    if sweep.shuffle:
        if count > MAX_CATEGORICAL_VALUES:
            raise _error(key, f"shuffle({shown}) has {count} values; use a plain range")
        return CategoricalDistribution(list(values))
    if integral:
        return IntDistribution(start, values[-1], step=step)  # type: ignore[arg-type]
    return FloatDistribution(float(start), values[-1], step=float(step))


class _DecimalGrid(Sequence[float]):
    """``start + k·step`` for ``k < count`` in decimal arithmetic, computed on demand.

    On demand, because ``range(0, 1e9, 0.001)`` is a fine Optuna distribution but no list.
    """

    def __init__(self, start: Decimal, step: Decimal, count: int) -> None:
        self._start, self._step, self._count = start, step, count

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[k] for k in range(*index.indices(self._count))]
        k = index + self._count if index < 0 else index
        if not 0 <= k < self._count:
            raise IndexError(index)
        return float(self._start + k * self._step)


_NO_TWIN = object()


def _choice(key: str, sweep: ChoiceSweep) -> tuple[BaseDistribution, frozenset[str]]:
    choices: list[Any] = []
    encoded: set[str] = set()
    for item in sweep.list:
        if isinstance(item, Sweep):
            raise _error(key, "a sweep inside a choice is not supported")
        if isinstance(item, QuotedString):  # the bare form a,'b c' keeps quotes; choice() not
            item = item.text
        if isinstance(item, list | dict):
            item = Transformer.str(item)  # Hydra's own text for it, e.g. [64,64]
            encoded.add(item)
        elif item is not None and not isinstance(item, str | int | float | bool):
            raise _error(key, f"choice value {item!r} is not a scalar, list or dict")
        if isinstance(item, float) and math.isnan(item):
            raise _error(key, "choice values cannot be nan")
        # Optuna finds a choice by ==, so 1, 1.0 and true would all come back as the first.
        twin = next((c for c in choices if c == item), _NO_TWIN)
        if twin is not _NO_TWIN:
            if type(twin) is type(item):
                raise _error(key, f"choice lists {_format_value(key, item)} twice")
            shown = f"{_format_value(key, twin)} and {_format_value(key, item)}"
            raise _error(key, f"choice values {shown} are the same value to Optuna")
        choices.append(item)
    if not choices:
        raise _error(key, "choice() needs at least one value")
    return CategoricalDistribution(choices), frozenset(encoded)


# --- formatting ---------------------------------------------------------------------------------


def _format_value(key: str, value: Any, nested: bool = False) -> str:
    """Hydra override text for a Python value (the part after ``key=``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        return repr(float(value))  # float's repr, also for numpy scalars (whose repr differs)
    if isinstance(value, str):
        return _format_str(value, nested)
    if isinstance(value, Mapping):
        # Hydra's dict keys are bare words (they cannot be quoted).
        items = (f"{k}:{_format_value(key, v, nested=True)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, Sequence):
        return "[" + ",".join(_format_value(key, v, nested=True) for v in value) + "]"
    raise _error(key, f"cannot write a {type(value).__name__} as an override value")


def _format_str(text: str, nested: bool) -> str:
    """``text`` bare when Hydra reads it back unchanged and it has no whitespace, else quoted."""
    if text and not any(ch.isspace() for ch in text) and _reads_back(text, nested):
        return text
    quote = Quote.double if "'" in text and '"' not in text else Quote.single
    return QuotedString(text=text, quote=quote).with_quotes()


@lru_cache(maxsize=4096)
def _reads_back(text: str, nested: bool) -> bool:
    """Whether Hydra parses the bare ``text`` (alone, or as a list item) as that very string."""
    line, expected = (f"k=[{text}]", [text]) if nested else (f"k={text}", text)
    try:
        (override,) = _parser().parse_overrides([line])
    except Exception:
        return False
    return not override.is_sweep_override() and override.value() == expected
