"""Which GPU each local sweep worker sees: one each, round-robin over the visible ones.

Without this, ``n_workers`` processes on a node with several GPUs would all train on the first
one (every process's ``cuda:0``) and leave the others idle. Each worker gets
``CUDA_VISIBLE_DEVICES`` set to one device before CUDA starts in it, so a trial's ``cuda`` or
``devices=1`` is that device. The devices are those in ``CUDA_VISIBLE_DEVICES`` when it is set
(the user's choice, or a Slurm task's allocation), else every GPU ``nvidia-smi`` lists. One
device or none: nothing changes. Cluster tasks are not spread here: Slurm gives each task the
GPUs it asked for (``gpus_per_node``) and sets ``CUDA_VISIBLE_DEVICES`` itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence

VISIBLE = "CUDA_VISIBLE_DEVICES"


def visible_gpus(environ: Mapping[str, str] | None = None) -> list[str]:
    """The GPUs this process may hand out: ``CUDA_VISIBLE_DEVICES`` (indices or UUIDs) when it
    is set, else the indices ``nvidia-smi`` lists; empty on a machine without GPUs."""
    environ = os.environ if environ is None else environ
    if VISIBLE in environ:
        return [d.strip() for d in environ[VISIBLE].split(",") if d.strip()]
    smi = shutil.which("nvidia-smi", path=environ.get("PATH"))
    if not smi:
        return []
    try:
        out = subprocess.run(
            [smi, "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if out.returncode != 0:
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip().isdigit()]


def worker_gpus(n_workers: int, gpus: Sequence[str]) -> list[str | None]:
    """Worker ``i``'s ``CUDA_VISIBLE_DEVICES``: ``gpus[i % len(gpus)]``; None for every worker
    when there are fewer than two GPUs (nothing to spread) or a single worker."""
    if n_workers < 2 or len(gpus) < 2:
        return [None] * n_workers
    return [gpus[i % len(gpus)] for i in range(n_workers)]


def cuda_started() -> bool:
    """Whether CUDA already runs in this process (then its own device can no longer change)."""
    torch = sys.modules.get("torch")
    return bool(torch is not None and torch.cuda.is_initialized())
