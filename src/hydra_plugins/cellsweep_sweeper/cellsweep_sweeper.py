"""A thin Hydra Sweeper plugin: config keys and registration here, the work in cellsweep.sweep.

The keys are the stock ``hydra-optuna-sweeper``'s (direction, n_trials, sampler, storage,
study_name, params, max_failure_rate), plus pruner, n_workers and objective.
"""

# No `from __future__ import annotations` here: Hydra loads plugins outside sys.modules, and
# dataclasses with string annotations would then fail to resolve their types.
from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


@dataclass
class CellsweepSweeperConf:
    _target_: str = "hydra_plugins.cellsweep_sweeper.cellsweep_sweeper.CellsweepSweeper"
    direction: Any = "minimize"
    n_trials: int = 20
    sampler: Any = None
    pruner: Any = None
    storage: Any = None
    study_name: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    max_failure_rate: float = 0.0
    n_workers: int = 1
    threads_per_worker: int = 0  # torch threads per worker; 0: CPU cores / n_workers
    objective: Any = None
    heartbeat_interval: float = 10.0  # seconds between stamps on a running trial
    grace_period: float = 60.0  # a running trial without a stamp for this long is stale
    # top-level config keys that say where things go, not what a study is: changing them
    # resumes the same study (everything else, data files' content included, makes a new one)
    identity_ignore: list[str] = field(
        default_factory=lambda: ["paths", "tracking", "storage", "run_name"]
    )
    # a class path, not a _target_ node (Hydra would build it before the sweep has its config)
    tracker: Optional[str] = "cellsweep.tracking.study.MLflowStudyTracker"  # noqa: UP045
    # checks composed trial configs before anything is written (bad input: exit 2); by
    # default the app's own `check_config(cfg)`, when the app's module defines one
    validator: Optional[str] = None  # noqa: UP045


ConfigStore.instance().store(
    group="hydra/sweeper", name="cellsweep", node=CellsweepSweeperConf, provider="cellsweep"
)


class CellsweepSweeper(Sweeper):
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.hydra_context: Optional[HydraContext] = None  # noqa: UP045
        self.task_function: Optional[TaskFunction] = None  # noqa: UP045
        self.config: Optional[DictConfig] = None  # noqa: UP045

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.hydra_context, self.task_function, self.config = hydra_context, task_function, config

    def sweep(self, arguments: list[str]) -> Any:
        from cellsweep.sweep.hydra_sweep import run_hydra_sweep

        return run_hydra_sweep(self, arguments)
