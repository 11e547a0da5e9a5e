"""Density snapshots as CSV: a user's own data, or simulated data exported for inspection.

Format: the first column is time, each further column one bin of equal width over [0, L]; one
row per snapshot, equally spaced in time by ``record_every · dt``; an optional header row.
Values are counts or densities: each row is normalized to unit mass on load.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from cellsweep.errors import DataError


def _float(text: str, path: Path, row: int, col: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{path}: row {row}, column {col}: not a number: {text!r}") from None
    if not math.isfinite(value):
        raise DataError(f"{path}: row {row}, column {col}: not finite: {text!r}")
    return value


def read_snapshots(path: str | Path, frame_dt: float) -> tuple[np.ndarray, np.ndarray]:
    """(times [T], values [T, R]) from a snapshot CSV; every defect is a one-line DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"snapshot CSV not found: {path}")
    try:
        with path.open(newline="") as fh:
            rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read as CSV: {exc}") from None
    if rows and rows[0]:
        try:
            float(rows[0][0])
        except ValueError:
            rows = rows[1:]  # header
    if len(rows) < 2:
        raise DataError(f"{path}: needs at least 2 snapshot rows, found {len(rows)}")
    width = len(rows[0])
    if width < 3:
        raise DataError(f"{path}: needs a time column and at least 2 bin columns")
    data = np.empty((len(rows), width))
    for i, r in enumerate(rows, start=1):
        if len(r) != width:
            raise DataError(f"{path}: row {i} has {len(r)} columns, expected {width}")
        data[i - 1] = [_float(c, path, i, j + 1) for j, c in enumerate(r)]
    times, values = data[:, 0], data[:, 1:]
    neg = np.argwhere(values < 0)
    if len(neg):
        i, j = neg[0]
        raise DataError(f"{path}: row {i + 1}, column {j + 2}: negative density {values[i, j]}")
    steps = np.diff(times)
    if not np.allclose(steps, frame_dt, rtol=1e-6, atol=1e-12):
        bad = int(np.argmax(~np.isclose(steps, frame_dt, rtol=1e-6, atol=1e-12)))
        raise DataError(
            f"{path}: row {bad + 2}: time step {steps[bad]:.6g} differs from "
            f"task.sim.record_every · task.sim.dt = {frame_dt:.6g}"
        )
    empty = np.flatnonzero(values.sum(axis=1) <= 0)
    if len(empty):
        raise DataError(f"{path}: row {empty[0] + 1} has no mass (all bins zero)")
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
