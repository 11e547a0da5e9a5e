"""The stock ``hydra-optuna-sweeper``'s keys, mapped onto cellsweep's sweep.

Files written for the stock plugin keep working with only the sweeper selection changed:
``n_jobs`` is cellsweep's ``n_workers`` (real processes instead of a launcher batch), the
deprecated ``search_space`` mapping joins the space, ``custom_search_space`` names a function
``fn(cfg, trial)`` called after the params are suggested (its own suggestions become overrides,
as in the stock plugin), and ``hydra/sweeper/sampler=grid`` gets its grid from the params.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Mapping
from typing import Any

import hydra
import optuna
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from cellsweep.errors import ConfigError
from cellsweep.sweep.space.grammar import SearchSpace

log = logging.getLogger("cellsweep.sweep")

GRID_TARGET = "optuna.samplers.GridSampler"
MAX_GRID_POINTS = 1_000_000


def workers(n_workers: Any, n_jobs: Any) -> Any:
    """``n_jobs`` (stock) or ``n_workers`` (cellsweep); both set and different is bad input."""
    if n_jobs is None:
        return n_workers
    if n_workers not in (1, n_jobs):
        raise ConfigError(
            f"hydra.sweeper.n_jobs={n_jobs} and n_workers={n_workers}: set one of them"
        )
    return n_jobs


def legacy_distribution(key: str, node: Mapping[str, Any]) -> BaseDistribution:
    """One entry of the deprecated ``search_space``: ``{type, low, high, step, log, choices}``."""
    kind = str(node.get("type", "")).split(".")[-1]  # "float" or DistributionType.float
    unknown = set(node) - {"type", "low", "high", "step", "log", "choices"}
    if unknown:
        raise ConfigError(f"hydra.sweeper.search_space.{key}: unknown key {sorted(unknown)[0]}")
    try:
        if kind == "categorical":
            choices = node.get("choices")
            if not choices:
                raise ConfigError(f"hydra.sweeper.search_space.{key}: categorical needs choices")
            return CategoricalDistribution(list(choices))
        low, high, step, log_ = node.get("low"), node.get("high"), node.get("step"), node.get("log")
        if low is None or high is None:
            raise ConfigError(f"hydra.sweeper.search_space.{key}: {kind} needs low and high")
        if kind == "int":
            return IntDistribution(int(low), int(high), log=bool(log_), step=int(step or 1))
        if kind == "float":
            return FloatDistribution(float(low), float(high), log=bool(log_), step=step)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"hydra.sweeper.search_space.{key}: {exc}") from None
    raise ConfigError(
        f"hydra.sweeper.search_space.{key}: type must be int, float or categorical, got {kind!r}"
    )


def add_legacy_space(space: SearchSpace, search_space: Any, params: Mapping[str, Any]) -> None:
    """The deprecated ``search_space`` joins ``space``, unless ``params`` is set (stock rule)."""
    if not search_space:
        return
    if params:
        log.warning("hydra.sweeper.params and search_space are both set: using params")
        return
    log.warning("hydra.sweeper.search_space is deprecated: write hydra.sweeper.params")
    for key, node in dict(search_space).items():
        if not isinstance(node, Mapping):
            raise ConfigError(f"hydra.sweeper.search_space.{key} must be a mapping")
        space.distributions[str(key)] = legacy_distribution(str(key), node)


def add_custom_space(space: SearchSpace, path: str | None, config: DictConfig) -> None:
    """``custom_search_space``: the user's ``fn(cfg, trial)`` runs after the params are drawn."""
    if not path:
        return
    try:
        fn = hydra.utils.get_method(str(path))
    except Exception as exc:
        msg = str(exc).strip().splitlines()
        raise ConfigError(
            f"hydra.sweeper.custom_search_space={path}: cannot import ({msg[-1] if msg else exc})"
        ) from None
    space.extend = functools.partial(fn, config)


def fill_seed(node: Any, seed: int | None) -> Any:
    """A sampler node from the ``hydra/sweeper/sampler`` group with ``seed: null`` takes the
    app's ``seed``, as cellsweep's default TPE does: a rerun draws the same trials."""
    if isinstance(node, Mapping) and "seed" in node and node.get("seed") is None:
        return {**node, "seed": seed}
    return node


def is_grid(node: Any) -> bool:
    """Whether the sampler needs its grid built from the search space."""
    return isinstance(node, Mapping) and node.get("_target_") == GRID_TARGET


def grid_values(key: str, dist: BaseDistribution) -> list[Any]:
    """Every value of a discrete distribution, both ends included (Optuna's ``high`` is)."""
    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    if isinstance(dist, IntDistribution) and not dist.log:
        return list(range(dist.low, dist.high + 1, dist.step))
    if isinstance(dist, FloatDistribution) and dist.step is not None and not dist.log:
        n = round((dist.high - dist.low) / dist.step) + 1
        return [dist.low + i * dist.step for i in range(n)]
    raise ConfigError(
        f"search space entry {key!r}: the grid sampler needs a choice(), a range() or an int "
        "interval, not a continuous or log distribution"
    )


def grid_sampler(node: Mapping[str, Any], space: SearchSpace) -> tuple[Any, int]:
    """The ``GridSampler`` over ``space`` and its number of points."""
    if space.extend is not None:
        raise ConfigError("the grid sampler cannot take custom_search_space: its grid is fixed")
    grid = {k: grid_values(k, d) for k, d in space.distributions.items()}
    if not grid:
        raise ConfigError("the grid sampler needs at least one swept key in hydra.sweeper.params")
    points = math.prod(len(v) for v in grid.values())
    if points > MAX_GRID_POINTS:
        raise ConfigError(f"the grid has {points} points: too many for a grid search")
    kwargs = {k: v for k, v in node.items() if k not in ("_target_", "_partial_")}
    try:
        return optuna.samplers.GridSampler(grid, **kwargs), points
    except TypeError as exc:
        raise ConfigError(f"hydra.sweeper.sampler (grid): {exc}") from None


def default_objectives(n_directions: int) -> list[str]:
    """Names for what a plain app returns: ``value``, or ``value_0``... for several."""
    return ["value"] if n_directions == 1 else [f"value_{i}" for i in range(n_directions)]


def plain(node: Any) -> Any:
    """Plain containers, so keys compare and serialize as the user wrote them."""
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
