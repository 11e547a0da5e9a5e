"""The engine's view of the sweeper's keys: the declared ones (keys.py) checked, plus the seed."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from cellsweep.errors import ConfigError
from cellsweep.sweep.keys import SweeperKeys


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
