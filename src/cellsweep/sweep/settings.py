"""The sweeper's config keys, declared once: the Hydra plugin's node and the engine's settings
(``SweepSettings``, the keys checked, plus the seed) both derive from ``SweeperKeys``, so a key
added here exists everywhere it is read.

The keys are the stock ``hydra-optuna-sweeper``'s (direction, n_trials, n_jobs, sampler and its
``hydra/sweeper/sampler`` group, storage, study_name, params, custom_search_space, the
deprecated search_space, max_failure_rate), plus cellsweep's own: pruner, n_workers, objective,
threads, heartbeat, and where the study and its MLflow runs go when the app says nothing
(sweeps_dir, tracking). None of them needs a key in the app's own config.
"""

# No `from __future__ import annotations`: the Hydra plugin stores a subclass of this dataclass
# as a structured config, and OmegaConf reads these annotations as types.
import os
from dataclasses import dataclass, field
from typing import Any, Optional

from cellsweep.errors import ConfigError

#: the stock plugin's keys the engine does not take: space/stock.py maps them onto cellsweep's
STOCK_ONLY = ("n_jobs", "search_space", "custom_search_space")
#: keys that say where things go or which classes to use, not how the study runs
PLUMBING = ("tracker", "trial_runs", "validator", "tracking", "sweeps_dir")


@dataclass
class SweeperKeys:
    """Every key of the sweeper node and its default: the one declaration of them."""

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
    # seconds between a Lightning trial's checkpoints (at an epoch's end); 0: none. A trial
    # shorter than this never writes one; an interrupted trial resumes from its latest.
    checkpoint_every: float = 300.0
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


@dataclass
class SweepSettings(SweeperKeys):
    """The sweeper's keys as the engine reads them; bad values are a ConfigError (exit 2)."""

    seed: int | None = None  # the app's `seed`: the default sampler's, and every derived one

    def __post_init__(self) -> None:
        if not isinstance(self.n_trials, int) or self.n_trials <= 0:
            raise ConfigError(
                f"hydra.sweeper.n_trials must be a positive integer, got {self.n_trials}"
            )
        if not 0.0 <= float(self.max_failure_rate) <= 1.0:
            raise ConfigError("hydra.sweeper.max_failure_rate must be within [0, 1]")
        if not isinstance(self.n_workers, int) or self.n_workers < 1:
            raise ConfigError(f"hydra.sweeper.n_workers must be >= 1, got {self.n_workers}")
        if not isinstance(self.threads_per_worker, int) or self.threads_per_worker < 0:
            raise ConfigError(
                "hydra.sweeper.threads_per_worker must be >= 0 (0: cores / n_workers), "
                f"got {self.threads_per_worker}"
            )

        if not isinstance(self.checkpoint_every, int | float) or self.checkpoint_every < 0:
            raise ConfigError(
                "hydra.sweeper.checkpoint_every must be >= 0 seconds (0: no checkpoints), "
                f"got {self.checkpoint_every}"
            )

    def threads(self) -> int:
        """Torch threads for each worker: the cores shared out, so workers do not oversubscribe."""
        if self.threads_per_worker:
            return self.threads_per_worker
        return max(1, (os.cpu_count() or 1) // self.n_workers)


def objective_names(objective: Any, default: str | None, n_directions: int) -> list[str]:
    """One metric name per direction, so a returned mapping can be read in the study's order."""
    names = [objective] if isinstance(objective, str) else list(objective or [])
    if not names and default:
        names = [default]
    if len(names) != n_directions:
        raise ConfigError(
            f"hydra.sweeper.objective names {len(names)} metric(s) but direction has {n_directions}"
        )
    return [str(n) for n in names]
