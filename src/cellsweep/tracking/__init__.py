"""Everything MLflow. Knows configs, Lightning trainers and metric names; never a task.

The Lightning callback lives in ``cellsweep.tracking.callback`` and is not imported here, so
code that only logs runs does not pay for importing Lightning.
"""

from cellsweep.redact import redact_text, redact_uri
from cellsweep.tracking.gitinfo import git_state
from cellsweep.tracking.params import flatten
from cellsweep.tracking.run import (
    TrackedRun,
    TrackingSettings,
    check_reachable,
    ensure_experiment,
    start_run,
)

__all__ = [
    "TrackedRun",
    "TrackingSettings",
    "check_reachable",
    "ensure_experiment",
    "flatten",
    "git_state",
    "redact_text",
    "redact_uri",
    "start_run",
]
