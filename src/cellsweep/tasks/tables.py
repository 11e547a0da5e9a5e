"""CSV text from named columns: the one format every workload's report writes its curves in
(a header row, comma-separated, 8 significant digits), so a reader parses them all alike."""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np


def columns_csv(columns: Mapping[str, np.ndarray], fmt: str = "%.8g") -> str:
    """The columns side by side under a header of their names, as report files hold them."""
    buf = io.StringIO()
    np.savetxt(
        buf,
        np.column_stack([np.asarray(c) for c in columns.values()]),
        delimiter=",",
        header=",".join(columns),
        comments="",
        fmt=fmt,
    )
    return buf.getvalue()
