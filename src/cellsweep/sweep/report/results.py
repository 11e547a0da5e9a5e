"""``optimization_results.yaml`` in the sweep folder, in the stock plugin's format.

Scripts written for ``hydra-optuna-sweeper`` read this file after a sweep: ``name``, then
``best_params`` and ``best_value`` for one objective, or ``solutions`` (the Pareto front, each
with ``params`` and ``values``) for several.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
from omegaconf import OmegaConf

FILE = "optimization_results.yaml"


def results(study: optuna.Study) -> dict[str, Any] | None:
    """The best trial (or the Pareto front); None while no trial has completed."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return None
    if len(study.directions) == 1:
        best = study.best_trial
        return {"name": "optuna", "best_params": dict(best.params), "best_value": best.value}
    front = [{"params": dict(t.params), "values": list(t.values)} for t in study.best_trials]
    return {"name": "optuna", "solutions": front}


def write_results(study: optuna.Study, sweep_dir: str | Path) -> Path | None:
    """Write the file (replacing an older one); None, and no file, without a completed trial."""
    content = results(study)
    if content is None:
        return None
    path = Path(sweep_dir) / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(OmegaConf.create(content), path)
    return path
