"""Reading numeric CSV tables whose every defect is one ``DataError`` line naming row and column.

Shared by the workloads' loaders: rows are numbered as in the file (1-based, header included),
so the row in a message is the line a user opens in an editor.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from cellsweep.errors import DataError


def parse_float(text: str, path: Path, row: int, col: int) -> float:
    """A number from a CSV cell, or a DataError that names the file, row and column."""
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{path}: row {row}, column {col}: not a number: {text!r}") from None
    if not math.isfinite(value):
        raise DataError(f"{path}: row {row}, column {col}: not finite: {text!r}")
    return value


SEPARATORS = {"\t": "tab", ";": "semicolon"}


def _check_separator(path: Path, rows: list[tuple[int, list[str]]]) -> None:
    """One line naming the separator of a file whose first row splits on tabs or semicolons at
    least as often as on commas (decimal commas included)."""
    if not rows:
        return
    i, first = rows[0]
    line = ",".join(first)
    for sep, name in SEPARATORS.items():
        if sep in line and line.count(sep) >= len(first) - 1:
            raise DataError(
                f"{path}: row {i} is separated by {name}s ({line.count(sep) + 1} fields); "
                "cellsweep reads comma-separated files: save it as CSV with commas"
            )


def read_table(path: str | Path, what: str) -> tuple[np.ndarray, list[str] | None, int]:
    """(data [rows, cols], header or None, file row of the first data row) of a numeric CSV.

    The header row is optional: a first row whose first cell is not a number is one. Blank lines
    are skipped; ragged rows and non-numeric cells are errors. A UTF-8 byte-order mark (as Excel
    writes) is dropped, so it cannot turn a header-less first row into a header. Only commas
    separate fields: a file whose rows split on tabs or semicolons instead is one error that
    names the separator (a semicolon file often has decimal commas, which cannot be guessed).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} not found: {path}")
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = [(i, r) for i, r in enumerate(csv.reader(fh), 1) if any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read as CSV: {exc}") from None
    _check_separator(path, rows)
    header = None
    if rows:
        try:
            float(rows[0][1][0])
        except ValueError:
            header = [c.strip() for c in rows[0][1]]
            rows = rows[1:]
    if not rows:
        raise DataError(f"{path}: no data rows")
    width = len(header) if header else len(rows[0][1])
    data = np.empty((len(rows), width))
    for k, (i, r) in enumerate(rows):
        if len(r) != width:
            raise DataError(f"{path}: row {i} has {len(r)} columns, expected {width}")
        data[k] = [parse_float(c, path, i, j + 1) for j, c in enumerate(r)]
    return data, header, rows[0][0]
