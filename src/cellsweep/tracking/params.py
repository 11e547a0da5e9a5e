"""The resolved config as MLflow params: flat dotted keys, redacted, within MLflow's limits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cellsweep.tracking.redact import redact_text

MAX_VALUE = 6000  # MLflow's limit on a param value


def flatten(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """{'a': {'b': 1}} -> {'a.b': '1'}; lists stay whole (``[1, 2]``), secrets redacted."""
    out: dict[str, str] = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
            continue
        text = "null" if value is None else str(value)
        out[name] = redact_text(text)[:MAX_VALUE]
    return out
