"""Everything Optuna: a Hydra sweeper that runs studies for any Hydra app. Knows configs, never a
task, and never imports ``cellsweep.tracking`` (DESIGN.md §3): it asks a tracker through the
Protocols in ``tracker.py``, and the plugin's class paths name MLflow's.

The house, by concept (each subpackage's ``__init__`` says what it owns and may import)::

    api.py       what a job sees: the live trial (TrialContext, current_trial)
    engine.py    the loop (ask, run, tell) and the study's parent run; Sweep and Role
    settings.py  the sweeper's keys, declared once, and the engine's checked view of them
    tracker.py   what the engine asks of a tracker (Protocols) and the null tracker
    compat.py    every private Optuna, Hydra and submitit call, each behind one function
    space/       the search-space grammar and the stock plugin's forms
    study/       storage and locks, samplers and pruners, identity, outcomes, heartbeats
    workers/     local worker processes and their GPUs, Slurm submission and its squeue watch
    report/      the summary, the plots, the figure process, optimization_results.yaml
    plugin/      the Hydra-facing run: defaults, per-trial composition, jobs and workers

Importing this package imports none of them: a Hydra app that only lists the plugin pays for
nothing until it sweeps. The names below are the public API, loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> the module that defines it
_PUBLIC = {
    "LEAD": "cellsweep.sweep.engine",
    "WATCHER": "cellsweep.sweep.engine",
    "Role": "cellsweep.sweep.engine",
    "Sweep": "cellsweep.sweep.engine",
    "run_study": "cellsweep.sweep.engine",
    "SweepSettings": "cellsweep.sweep.settings",
    "SweeperKeys": "cellsweep.sweep.settings",
    "TrialContext": "cellsweep.sweep.api",
    "current_trial": "cellsweep.sweep.api",
    "NULL_TRACKER": "cellsweep.sweep.tracker",
    "StudyTracker": "cellsweep.sweep.tracker",
    "TrialRuns": "cellsweep.sweep.tracker",
    "parse_space": "cellsweep.sweep.space.grammar",
    "SearchSpace": "cellsweep.sweep.space.grammar",
    "make_storage": "cellsweep.sweep.study.storage",
    "open_study": "cellsweep.sweep.study.storage",
    "outcome_of": "cellsweep.sweep.study.record",
    "study_summary": "cellsweep.sweep.report.summary",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    """``from cellsweep.sweep import run_study``: the defining module is imported then."""
    if name not in _PUBLIC:
        raise AttributeError(f"module 'cellsweep.sweep' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)
