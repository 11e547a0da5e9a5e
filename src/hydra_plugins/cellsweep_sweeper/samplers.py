"""The ``hydra/sweeper/sampler`` config group, under the stock plugin's names.

``hydra/sweeper/sampler=tpe|random|cmaes|nsgaii|motpe|grid|qmc`` selects a sampler node with the
keys of the Optuna 5 sampler it builds, so files written for ``hydra-optuna-sweeper`` keep their
``override hydra/sweeper/sampler: ...`` line. Two names cannot mean what they meant there:
``motpe`` builds a ``TPESampler`` (Optuna 4 removed ``MOTPESampler``; TPE handles several
objectives itself), and ``grid`` is completed by the sweeper, which builds the grid from
``params`` (``_partial_``: the search space is not known when Hydra composes this node).
"""

# No `from __future__ import annotations`: see cellsweep_sweeper.py.
from dataclasses import dataclass
from typing import Any, Optional

from hydra.core.config_store import ConfigStore


@dataclass
class TPESamplerConf:
    """``sampler=tpe``: Optuna's TPESampler, the default for mixed search spaces."""

    _target_: str = "optuna.samplers.TPESampler"
    seed: Optional[int] = None  # noqa: UP045
    n_startup_trials: int = 10
    n_ei_candidates: int = 24
    multivariate: Optional[bool] = None  # noqa: UP045
    group: bool = False
    constant_liar: bool = True
    warn_independent_sampling: Optional[bool] = None  # noqa: UP045
    # the stock plugin's keys that Optuna 5 deprecates: null leaves Optuna's own default
    consider_prior: Optional[bool] = None  # noqa: UP045
    prior_weight: Optional[float] = None  # noqa: UP045
    consider_magic_clip: Optional[bool] = None  # noqa: UP045
    consider_endpoints: Optional[bool] = None  # noqa: UP045


@dataclass
class RandomSamplerConf:
    """``sampler=random``: a baseline that any search should beat."""

    _target_: str = "optuna.samplers.RandomSampler"
    seed: Optional[int] = None  # noqa: UP045


@dataclass
class CmaEsSamplerConf:
    """``sampler=cmaes``: CMA-ES for continuous spaces with many trials."""

    _target_: str = "optuna.samplers.CmaEsSampler"
    seed: Optional[int] = None  # noqa: UP045
    x0: Optional[Any] = None  # noqa: UP045
    sigma0: Optional[float] = None  # noqa: UP045
    n_startup_trials: int = 1
    warn_independent_sampling: bool = True
    consider_pruned_trials: bool = False
    restart_strategy: Optional[str] = None  # noqa: UP045
    popsize: Optional[int] = None  # noqa: UP045
    inc_popsize: int = -1
    use_separable_cma: bool = False
    with_margin: bool = False
    lr_adapt: bool = False


@dataclass
class NSGAIISamplerConf:
    """``sampler=nsgaii``: NSGA-II for studies with several objectives."""

    _target_: str = "optuna.samplers.NSGAIISampler"
    seed: Optional[int] = None  # noqa: UP045
    population_size: int = 50
    mutation_prob: Optional[float] = None  # noqa: UP045
    crossover_prob: float = 0.9
    swapping_prob: float = 0.5


@dataclass
class MOTPESamplerConf:
    """``sampler=motpe``: a multi-objective TPE, since Optuna 4 removed MOTPESampler."""

    _target_: str = "optuna.samplers.TPESampler"
    seed: Optional[int] = None  # noqa: UP045
    n_startup_trials: int = 10
    n_ei_candidates: int = 24


@dataclass
class GridSamplerConf:
    """``sampler=grid``: every point of a discrete space, built from the search space itself."""

    _target_: str = "optuna.samplers.GridSampler"
    _partial_: bool = True
    seed: Optional[int] = None  # noqa: UP045


@dataclass
class QMCSamplerConf:
    """``sampler=qmc``: quasi-random points that cover a space more evenly than random."""

    _target_: str = "optuna.samplers.QMCSampler"
    seed: Optional[int] = None  # noqa: UP045
    qmc_type: str = "sobol"
    scramble: bool = False
    warn_asynchronous_seeding: bool = True
    warn_independent_sampling: bool = True


SAMPLERS = {
    "tpe": TPESamplerConf,
    "random": RandomSamplerConf,
    "cmaes": CmaEsSamplerConf,
    "nsgaii": NSGAIISamplerConf,
    "motpe": MOTPESamplerConf,
    "grid": GridSamplerConf,
    "qmc": QMCSamplerConf,
}


def register() -> None:
    """Make ``hydra/sweeper/sampler=<name>`` selectable, as in the stock plugin."""
    for name, node in SAMPLERS.items():
        ConfigStore.instance().store(
            group="hydra/sweeper/sampler", name=name, node=node, provider="cellsweep"
        )
