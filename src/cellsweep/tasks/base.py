"""What a workload hands to the entry point: a module, its data, and a report for after fit.

``train.py`` is the only place where workloads meet tracking and sweeps (DESIGN.md §3): a
workload returns a ``TaskRun``; the entry point fits it, and logs whatever ``report`` returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import lightning as L


@dataclass
class Report:
    """After-fit outputs: figures (matplotlib), text files, and scalar summaries."""

    figures: dict[str, Any] = field(default_factory=dict)  # file name -> matplotlib Figure
    files: dict[str, str] = field(default_factory=dict)  # file name -> text (CSV, JSON, ...)
    metrics: dict[str, float] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)  # human summary printed at the end
    tags: dict[str, str] = field(default_factory=dict)  # run tags (a chosen family, a warning)


@dataclass
class TaskRun:
    module: L.LightningModule
    datamodule: L.LightningDataModule
    report: Callable[[], Report]
    info: dict[str, Any] = field(default_factory=dict)  # derived values worth logging as params
