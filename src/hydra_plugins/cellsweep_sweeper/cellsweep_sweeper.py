"""A thin Hydra Sweeper plugin: config keys and registration here, the work in cellsweep.sweep.

The keys are the stock ``hydra-optuna-sweeper``'s (direction, n_trials, n_jobs, sampler and its
``hydra/sweeper/sampler`` group, storage, study_name, params, custom_search_space, the
deprecated search_space, max_failure_rate), plus cellsweep's own: pruner, n_workers, objective,
threads, heartbeat, and where the study and its MLflow runs go when the app says nothing
(sweeps_dir, tracking). None of them needs a key in the app's own config.
"""

# No `from __future__ import annotations` here: Hydra loads plugins outside sys.modules, and
# dataclasses with string annotations would then fail to resolve their types.
import functools
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from hydra_plugins.cellsweep_sweeper import samplers

STOCK_TARGET = "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"


@dataclass
class CellsweepSweeperConf:
    _target_: str = "hydra_plugins.cellsweep_sweeper.cellsweep_sweeper.CellsweepSweeper"
    # sampler and pruner arrive as config, not built by Hydra: the sweeper builds them once it
    # knows the seed and, for the grid sampler, the search space
    _recursive_: bool = False
    # the sampler group is empty until a file or the command line picks one
    # (`override hydra/sweeper/sampler: tpe`); no choice: TPE seeded by the app's `seed`
    defaults: list[Any] = field(default_factory=lambda: ["_self_", {"sampler": None}])
    direction: Any = "minimize"
    n_trials: int = 20
    sampler: Any = None
    pruner: Any = None
    # null: a journal file in sweeps_dir; a path; a database URL; `memory` (nothing kept)
    storage: Any = None
    study_name: Any = None  # null: the app's sweep config or job name
    params: Optional[dict[str, Any]] = field(default_factory=dict)  # noqa: UP045
    max_failure_rate: float = 0.0
    n_workers: int = 1
    n_jobs: Optional[int] = None  # noqa: UP045  # the stock name of n_workers
    threads_per_worker: int = 0  # torch threads per worker; 0: CPU cores / n_workers
    objective: Any = None  # metric name(s) when the job returns a mapping
    custom_search_space: Optional[str] = None  # noqa: UP045  # fn(cfg, trial), as the stock one
    search_space: Optional[Any] = None  # noqa: UP045  # deprecated stock form of params
    heartbeat_interval: float = 10.0  # seconds between stamps on a running trial
    grace_period: float = 60.0  # a running trial without a stamp for this long is stale
    # top-level config keys that say where things go, not what a study is: changing them
    # resumes the same study (everything else, data files' content included, makes a new one)
    identity_ignore: list[str] = field(
        default_factory=lambda: ["paths", "tracking", "storage", "run_name"]
    )
    # null: the app's `paths.sweeps_dir` if it has one, else sweeps/ in the launch directory
    sweeps_dir: Optional[str] = None  # noqa: UP045
    # null: the app's `tracking` node if it has one, else an MLflow SQLite store in mlruns/ of
    # the launch directory; false: no MLflow; a mapping: tracking settings (uri, experiment...)
    tracking: Any = None
    # a class path, not a _target_ node (Hydra would build it before the sweep has its config)
    tracker: Optional[str] = "cellsweep.tracking.study.MLflowStudyTracker"  # noqa: UP045
    # opens each trial's child run for apps that do not log their own (class path; null: none)
    trial_runs: Optional[str] = "cellsweep.tracking.trials.MLflowTrialRuns"  # noqa: UP045
    # checks composed trial configs before anything is written (bad input: exit 2); by
    # default the app's own `check_config(cfg)`, when the app's module defines one
    validator: Optional[str] = None  # noqa: UP045


ConfigStore.instance().store(
    group="hydra/sweeper", name="cellsweep", node=CellsweepSweeperConf, provider="cellsweep"
)
samplers.register()


def _bad_input(message: str) -> None:
    """One line on stderr and exit 2, in any app (Hydra would print a traceback and exit 1)."""
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "sweep"
    print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


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
        from cellsweep.cli_errors import USER_ERRORS, user_message
        from cellsweep.errors import SweepAborted
        from cellsweep.sweep.hydra_sweep import run_hydra_sweep

        if os.environ.get("HYDRA_FULL_ERROR") == "1":  # cellsweep-train's run_cli, or the user
            return run_hydra_sweep(self, arguments)
        try:
            return run_hydra_sweep(self, arguments)
        except USER_ERRORS as exc:
            _bad_input(user_message(exc))
        except SweepAborted as exc:
            print(f"{os.path.basename(sys.argv[0])}: stopped: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
        except KeyboardInterrupt:
            print(f"{os.path.basename(sys.argv[0])}: interrupted", file=sys.stderr)
            raise SystemExit(130) from None


def _refuse_stock_target() -> None:
    """A file ported from the stock plugin that keeps its ``_target_`` line gets one line that
    says to delete it, not Hydra's "Unknown plugin class" traceback.

    The merged sweeper node then holds cellsweep's keys under the stock class name, and Hydra
    fails while building it, before any code of ours runs; so this wraps Hydra's
    ``instantiate_sweeper`` for exactly that case (the stock plugin not installed, and the
    node cellsweep's) and leaves every other sweeper alone.
    """
    if importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is not None:
        return
    original = Plugins.instantiate_sweeper
    if getattr(original, "_cellsweep", False):
        return

    @functools.wraps(original)
    def instantiate_sweeper(self: Plugins, *, hydra_context, task_function, config) -> Sweeper:
        node = config.hydra.get("sweeper") or {}
        if node.get("_target_") == STOCK_TARGET and "trial_runs" in node:
            _bad_input(
                f"hydra.sweeper._target_ is {STOCK_TARGET}, the stock hydra-optuna-sweeper: "
                "delete that `_target_` line (`override hydra/sweeper: cellsweep` in the "
                "defaults list chooses the sweeper)"
            )
        return original(
            self, hydra_context=hydra_context, task_function=task_function, config=config
        )

    instantiate_sweeper._cellsweep = True  # type: ignore[attr-defined]
    Plugins.instantiate_sweeper = instantiate_sweeper  # type: ignore[method-assign]


_refuse_stock_target()
