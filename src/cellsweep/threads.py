"""Torch threads chosen for the work and the cores it was given (``trainer.threads: auto``).

Why: these models are small. Intra-op threads buy nothing on a network of a few thousand
parameters, and as soon as the cores are shared (a login node, a workstation, several sweep
workers) a thread that waits for a preempted sibling costs several times the work: the demo's
run took 264 s with torch's default threads beside four busy processes, 66 s with one. Two rules
follow, both measured by ``benchmarks/contention.py``:

- OpenMP's idle threads sleep (``OMP_WAIT_POLICY=PASSIVE``) instead of spinning, unless the user
  chose otherwise. It must be in the environment before torch is imported, so the console
  entry points call ``passive_waiting()`` first and sweep workers inherit it.
- ``auto``: one thread for the data phase and to train a model below ``SMALL_MODEL``
  parameters; the free cores of this process (affinity, a sweep worker's share, less what other
  processes keep busy now) only to train a larger one. Measured on the 2-core machine with
  sleeping idle threads: simulating 10^5 particles took 2.4 s with two threads against 0.63 s
  with one, and 10^6 particles 3.0–3.3 s against 1.4 s (a sleeping thread's wake-up costs more
  than its share of one elementwise pass); the demo's run 40–44 s against 19–22 s. Spinning
  threads win back 1.3× at 10^6 on an idle machine and lose 4× on a busy one. Set
  ``trainer.threads`` to a number for a large simulation on a machine of your own.
"""

from __future__ import annotations

import math
import os
from typing import Any

from cellsweep.errors import ConfigError

SMALL_MODEL = 1_000_000  # parameters; below it one thread trains as fast as several, idle or not


def passive_waiting() -> None:
    """Idle OpenMP threads sleep rather than spin, so a shared core is not burnt on waiting;
    a no-op when the user set ``OMP_WAIT_POLICY`` or torch is already loaded."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def busy_elsewhere(loadavg: str | None = None) -> float:
    """Cores other processes keep busy: the larger of the 1-minute load and the runnable count
    now (the load lags a minute behind a change), less this process. ``loadavg``: the text of
    ``/proc/loadavg``, read when not given."""
    try:
        if loadavg is None:
            with open("/proc/loadavg") as fh:
                loadavg = fh.read()
        fields = loadavg.split()
        load1, running = float(fields[0]), float(fields[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        running = load1
    return max(0.0, max(load1, running) - 1.0)


def given_cores() -> int:
    """Cores this process may run on: its CPU affinity (Slurm and taskset set it), else all."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def free_cores(cap: int) -> int:
    """Of at most ``cap`` cores, those no other process is using now (at least one)."""
    idle = (os.cpu_count() or 1) - busy_elsewhere()
    return max(1, min(cap, given_cores(), math.floor(idle + 0.5)))


def parse_threads(setting: Any) -> int | None:
    """``auto`` -> None; a positive integer -> itself; anything else a one-line ConfigError."""
    if setting is None or setting == "auto":
        return None
    if isinstance(setting, bool) or not isinstance(setting, int) or setting < 1:
        raise ConfigError(f"trainer.threads must be 'auto' or a positive integer, got {setting!r}")
    return setting


def data_threads(setting: Any) -> int:
    """Threads for loading or simulating the data: one under ``auto`` (the module says why)."""
    fixed = parse_threads(setting)
    return fixed if fixed is not None else 1


def train_threads(setting: Any, n_params: int, cap: int) -> int:
    """Threads for training: one for a small model under ``auto``, else the free cores."""
    fixed = parse_threads(setting)
    if fixed is not None:
        return fixed
    return 1 if n_params < SMALL_MODEL else free_cores(cap)
