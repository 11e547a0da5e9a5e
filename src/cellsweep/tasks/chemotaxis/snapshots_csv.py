"""Density snapshots as CSV: a user's own data, or simulated data exported for inspection.

Format: the first column is time, each further column one bin of equal width over [0, L]; one
row per snapshot, equally spaced in time by ``record_every · dt``; an optional header row.
Values are counts or densities: each row is normalized to unit mass on load.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cellsweep.csvio import read_table
from cellsweep.errors import DataError


def read_snapshots(path: str | Path, frame_dt: float) -> tuple[np.ndarray, np.ndarray]:
    """(times [T], values [T, R]) from a snapshot CSV; every defect is a one-line DataError."""
    data, _, first = read_table(path, "snapshot CSV")
    path = Path(path)
    if data.shape[0] < 2:
        raise DataError(f"{path}: needs at least 2 snapshot rows, found {data.shape[0]}")
    if data.shape[1] < 3:
        raise DataError(f"{path}: needs a time column and at least 2 bin columns")
    times, values = data[:, 0], data[:, 1:]
    neg = np.argwhere(values < 0)
    if len(neg):
        i, j = neg[0]
        raise DataError(f"{path}: row {i + first}, column {j + 2}: negative density {values[i, j]}")
    steps = np.diff(times)
    if not np.allclose(steps, frame_dt, rtol=1e-6, atol=1e-12):
        bad = int(np.argmax(~np.isclose(steps, frame_dt, rtol=1e-6, atol=1e-12)))
        raise DataError(
            f"{path}: row {bad + first + 1}: time step {steps[bad]:.6g} differs from "
            f"task.sim.record_every · task.sim.dt = {frame_dt:.6g}"
        )
    empty = np.flatnonzero(values.sum(axis=1) <= 0)
    if len(empty):
        raise DataError(f"{path}: row {empty[0] + first} has no mass (all bins zero)")
    return times, values


def write_snapshots(path: str | Path, times: np.ndarray, values: np.ndarray) -> Path:
    """Write snapshots in the format ``read_snapshots`` takes (with a header)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ",".join(["t"] + [f"bin{i}" for i in range(values.shape[1])])
    np.savetxt(
        path,
        np.column_stack([times, values]),
        delimiter=",",
        header=header,
        comments="",
        fmt="%.10g",
    )
    return path
