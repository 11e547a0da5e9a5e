"""The workload contract (DESIGN.md §3a): what the entry point may assume of a workload.

``train.py`` is the only place where workloads meet tracking and sweeps (DESIGN.md §3). It finds
a workload through ``task._target_`` (``resolve_workload``) and uses nothing of it but the
``Workload`` protocol: ``check`` before anything is written, ``build`` for a ``TaskRun`` that it
fits, then it logs whatever ``TaskRun.report`` returns. A task config derives from ``TaskCfg``.

``task._target_`` names either the workload itself (a module, class or object with ``check`` and
``build``: ``_target_: my_pkg.logistic``) or, as the built-in configs do, its ``build`` function
(``_target_: cellsweep.tasks.chemotaxis.build``), whose parent is then the workload. The second
form keeps the value that existing studies were fingerprinted with (sweep/study/identity.py).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import lightning as L

from cellsweep.errors import ConfigError


@dataclass
class Report:
    """After-fit outputs: figures (matplotlib), text files, and scalar summaries."""

    figures: dict[str, Any] = field(default_factory=dict)  # file name -> matplotlib Figure
    files: dict[str, str] = field(default_factory=dict)  # file name -> text (CSV, JSON, ...)
    metrics: dict[str, float] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)  # human summary printed at the end
    # run tags by bare name (a chosen family, a warning): train.py writes each under the name
    # tracking/tags.py gives it (cellsweep.<name>), so workloads type no MLflow tag string
    tags: dict[str, str] = field(default_factory=dict)
    # model.pt: the final model's state, where that is not the module's whole state_dict (a
    # module that fits several candidates and reports one); None: module.state_dict()
    weights: dict[str, Any] | None = None


@dataclass
class TaskRun:
    """What ``build`` returns: the entry point fits ``module`` on ``datamodule``, then logs
    ``report()`` and ``info`` (derived values worth logging as params)."""

    module: L.LightningModule
    datamodule: L.LightningDataModule
    report: Callable[[], Report]
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskCfg:
    """The keys every task config has: ``name`` (the MLflow experiment is
    ``cellsweep-<name>``, the cache folder ``<cache_dir>/<name>``) and ``objective``, the metric
    a study optimizes by default. A workload's task schema derives from it."""

    name: str = "task"
    objective: str = "val/loss"


@runtime_checkable
class Workload(Protocol):
    """One workload: a module (or any object) with these two functions."""

    def check(self, task: Mapping[str, Any], model: Mapping[str, Any]) -> None:
        """Every check that needs no data, so a sweep refuses a bad space before it writes
        anything; raises ``ConfigError``."""

    def build(
        self,
        task: Mapping[str, Any],
        model: Mapping[str, Any],
        seed: int,
        cache_dir: Path | None,
        output_dir: Path | None,
    ) -> TaskRun:
        """The module, the data and the report of one run; simulations go through
        ``tasks/cache.py`` under ``cache_dir``."""


def _locate(path: str) -> Any:
    """The object at a dotted path: the longest importable module prefix, then attributes."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError as exc:
            if exc.name and not ".".join(parts[:i]).startswith(exc.name):
                raise  # the module exists but one of its own imports is missing
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(f"no module named {parts[0]!r}")


def resolve_workload(target: Any) -> Workload:
    """The workload that ``task._target_`` names: itself, or the parent of its ``build``."""
    if not target or not isinstance(target, str):
        raise ConfigError("task._target_ must name the workload (a module with check and build)")
    try:
        obj = _locate(target)
        if not isinstance(obj, Workload) and target.endswith(".build") and callable(obj):
            obj = _locate(target.rsplit(".", 1)[0])
    except Exception as exc:
        raise ConfigError(f"task._target_={target} cannot be imported: {exc}") from None
    if not isinstance(obj, Workload):
        raise ConfigError(
            f"task._target_={target} is no workload: it needs check(task, model) and "
            "build(task, model, seed, cache_dir, output_dir) (cellsweep/tasks/base.py)"
        )
    return obj
