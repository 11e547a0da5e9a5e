"""Single-cell reporter traces as CSV: the first column is time, each further column one cell.

The header row is optional. Values are molecule counts (non-negative integers: the Poisson
likelihood applies) or reporter intensities (any real numbers, e.g. fluorescence: the Gaussian
moment likelihood applies). Every defect is one ``DataError`` line naming file, row and column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cellsweep.csvio import read_table
from cellsweep.errors import DataError


@dataclass
class Traces:
    """Reporter traces as read from a CSV or simulated, with whether they are counts."""

    times: np.ndarray  # [m + 1], strictly increasing
    values: np.ndarray  # [n_cells, m + 1]
    names: list[str]
    counts: bool  # non-negative integers throughout

    @property
    def n_cells(self) -> int:
        """The number of cells (rows)."""
        return int(self.values.shape[0])

    def subset(self, idx: np.ndarray) -> Traces:
        """The cells ``idx``: the fit/held-out split and the CV folds."""
        return Traces(self.times, self.values[idx], [self.names[i] for i in idx], self.counts)

    def to_csv(self, path: Path) -> Path:
        """Write the traces in the format ``read_traces`` reads (temp file, then rename)."""
        header = ",".join(["time", *self.names])
        fmt = "%d" if self.counts else "%.8g"
        table = np.column_stack([self.times, self.values.T])
        tmp = Path(path).with_suffix(f".tmp{np.random.default_rng().integers(1 << 30)}")
        np.savetxt(
            tmp,
            table,
            delimiter=",",
            header=header,
            comments="",
            fmt=["%.8g"] + [fmt] * self.n_cells,
        )
        tmp.replace(path)
        return Path(path)


def read_traces(path: str | Path) -> Traces:
    """Traces from a CSV; ragged rows, non-numbers, negative counts, non-increasing times, fewer
    than 2 cells or 3 times each raise a one-line ``DataError``."""
    data, header, first = read_table(path, "trace CSV")
    path = Path(path)
    if data.shape[1] < 3:
        raise DataError(
            f"{path}: needs a time column and at least 2 cell columns, "
            f"found {data.shape[1] - 1} cell column(s)"
        )
    if data.shape[0] < 3:
        raise DataError(f"{path}: needs at least 3 time rows, found {data.shape[0]}")
    times, values = data[:, 0], data[:, 1:].T.copy()
    step = np.diff(times)
    if (step <= 0).any():
        bad = int(np.argmax(step <= 0))
        raise DataError(
            f"{path}: row {bad + first + 1}, column 1: time {times[bad + 1]:g} does not increase "
            f"(previous {times[bad]:g})"
        )
    if times[0] < 0:
        raise DataError(f"{path}: row {first}, column 1: negative time {times[0]:g}")
    integral = bool(np.all(values == np.round(values)))
    if integral:
        neg = np.argwhere(values.T < 0)
        if len(neg):
            i, j = neg[0]
            raise DataError(
                f"{path}: row {i + first}, column {j + 2}: negative count {values[j, i]:g}"
            )
    names = header[1:] if header else [f"cell{i + 1}" for i in range(values.shape[0])]
    counts = integral and bool((values >= 0).all())
    return Traces(times=times, values=values, names=names, counts=counts)
