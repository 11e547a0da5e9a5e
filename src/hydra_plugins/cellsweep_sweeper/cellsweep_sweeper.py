"""A thin Hydra Sweeper plugin: the config node and registration here, the work in cellsweep.sweep.

The keys are declared once, in ``cellsweep.sweep.settings.SweeperKeys`` (the stock
``hydra-optuna-sweeper``'s keys plus cellsweep's own); this node adds only what Hydra needs to
build the sweeper. None of them needs a key in the app's own config.
"""

# No `from __future__ import annotations` here: Hydra loads plugins outside sys.modules, and
# dataclasses with string annotations would then fail to resolve their types.
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from cellsweep.sweep.compat import guard_sweeper_instantiation
from cellsweep.sweep.settings import SweeperKeys
from hydra_plugins.cellsweep_sweeper import samplers

STOCK_TARGET = "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"


@dataclass
class CellsweepSweeperConf(SweeperKeys):
    """The ``hydra/sweeper=cellsweep`` node: the stock plugin's keys plus cellsweep's own."""

    _target_: str = "hydra_plugins.cellsweep_sweeper.cellsweep_sweeper.CellsweepSweeper"
    # sampler and pruner arrive as config, not built by Hydra: the sweeper builds them once it
    # knows the seed and, for the grid sampler, the search space
    _recursive_: bool = False
    # the sampler group is empty until a file or the command line picks one
    # (`override hydra/sweeper/sampler: tpe`); no choice: TPE seeded by the app's `seed`
    defaults: list[Any] = field(default_factory=lambda: ["_self_", {"sampler": None}])


ConfigStore.instance().store(
    group="hydra/sweeper", name="cellsweep", node=CellsweepSweeperConf, provider="cellsweep"
)
samplers.register()


def _prog() -> str:
    return os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "sweep"


def _cli(fn: Any) -> Any:
    """``fn()`` with cellsweep's error rules in any app: bad input one line and exit 2, a
    stopped sweep exit 1, Ctrl-C 130 (Hydra alone would print a traceback and exit 1)."""
    from cellsweep.cli_errors import run_cli

    if os.environ.get("HYDRA_FULL_ERROR") == "1":  # cellsweep-train's run_cli, or the user
        return fn()
    return run_cli(_prog(), fn)


class CellsweepSweeper(Sweeper):
    """Hydra's Sweeper interface; the work is cellsweep.sweep.plugin.run's."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.hydra_context: Optional[HydraContext] = None  # noqa: UP045
        self.task_function: Optional[TaskFunction] = None  # noqa: UP045
        self.config: Optional[DictConfig] = None  # noqa: UP045

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        """Keep what Hydra hands over; the sweep needs all three to compose and run jobs."""
        self.hydra_context, self.task_function, self.config = hydra_context, task_function, config

    def sweep(self, arguments: list[str]) -> None:
        """Hydra's entry into cellsweep's sweep, with cellsweep's error rules. Returns None, as
        the stock Optuna sweeper does: the study lives in its storage, and the jobs ran in
        several processes, so this one holds no complete list of Hydra's JobReturns."""
        from cellsweep.sweep.plugin.run import run_hydra_sweep

        _cli(lambda: run_hydra_sweep(self, arguments))


def _refuse_stock_target(config: DictConfig) -> None:
    """A file ported from the stock plugin that keeps its ``_target_`` line gets one line that
    says to delete it, not Hydra's "Unknown plugin class" traceback.

    The merged sweeper node then holds cellsweep's keys under the stock class name, and Hydra
    fails while building it, before any code of ours runs; so this runs first, for exactly that
    case (the node cellsweep's), and leaves every other sweeper alone.
    """
    node = config.hydra.get("sweeper") or {}
    if node.get("_target_") == STOCK_TARGET and "trial_runs" in node:
        from cellsweep.errors import ConfigError

        def refuse() -> None:
            raise ConfigError(
                f"hydra.sweeper._target_ is {STOCK_TARGET}, the stock hydra-optuna-sweeper: "
                "delete that `_target_` line (`override hydra/sweeper: cellsweep` in the "
                "defaults list chooses the sweeper)"
            )

        _cli(refuse)


if importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is None:
    guard_sweeper_instantiation(_refuse_stock_target)
