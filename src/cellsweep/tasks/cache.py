"""The one simulation cache of every workload (DESIGN.md §3a, §4): arrays on disk, keyed by a
hash of the data config.

A study that varies only the estimator reuses one simulation: a workload passes the part of its
config that determines the data (model, sizes, seed, a version of its simulator) as ``key``, and
gets back what ``compute`` made the first time. Writes go to a temporary file that is renamed
into place, so concurrent workers never read half a file (the loser of a race recomputes); an
unreadable file is simulated again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]


def cache_key(key: Mapping[str, Any]) -> str:
    """A short, stable hash of the data config (key order does not matter)."""
    blob = json.dumps(key, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def cache_path(cache_dir: str | Path, key: Mapping[str, Any], prefix: str = "sim") -> Path:
    """Where the arrays of ``key`` live under ``cache_dir``."""
    return Path(cache_dir) / f"{prefix}-{cache_key(key)}.npz"


def _read(path: Path) -> Arrays | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {name: z[name] for name in z.files}
    except (OSError, ValueError, KeyError):
        log.warning("unreadable cache file %s: simulating again", path)
        return None


def _write(path: Path, arrays: Arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_or_compute(
    cache_dir: str | Path | None,
    key: Mapping[str, Any],
    compute: Callable[[], Arrays],
    prefix: str = "sim",
    required: tuple[str, ...] = (),
) -> Arrays:
    """The arrays of ``key`` from the cache, or ``compute()`` stored there (no cache_dir: just
    computed). A cached file that lacks a ``required`` array counts as unreadable."""
    path = cache_path(cache_dir, key, prefix) if cache_dir is not None else None
    if path is not None and path.exists():
        arrays = _read(path)
        if arrays is not None and all(name in arrays for name in required):
            log.info("simulation cache hit: %s", path.name)
            return arrays
    arrays = compute()
    if path is not None:
        _write(path, arrays)
    return arrays
