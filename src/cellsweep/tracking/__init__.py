"""Everything MLflow. Knows configs, Lightning trainers and metric names; never a task."""

from cellsweep.tracking.callback import MLflowEpochMetrics, scalar_metrics
from cellsweep.tracking.gitinfo import git_state
from cellsweep.tracking.params import flatten
from cellsweep.tracking.redact import redact_text, redact_uri
from cellsweep.tracking.run import TrackedRun, TrackingSettings, ensure_experiment, start_run

__all__ = [
    "MLflowEpochMetrics",
    "TrackedRun",
    "TrackingSettings",
    "ensure_experiment",
    "flatten",
    "git_state",
    "redact_text",
    "redact_uri",
    "scalar_metrics",
    "start_run",
]
