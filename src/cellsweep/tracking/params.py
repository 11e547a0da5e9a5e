"""The resolved config as MLflow params: flat dotted keys, redacted, within MLflow's limits."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import Any

from cellsweep.redact import redact_text

MAX_VALUE = 6000  # MLflow's limit on a param value
MAX_KEY = 250  # and on a key
REFUSED = re.compile(r"[^/\w.\- :]")  # what MLflow refuses in a key (mlflow.utils.validation)


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


def mlflow_key(name: str) -> str:
    """An override-style name as a key MLflow accepts, readable as the config key it sets.

    Hydra's prefixes go (``+model.dropout``, ``++model.dropout`` -> ``model.dropout``; ``~`` too),
    any other character MLflow refuses becomes ``_`` (``db@backup`` -> ``db_backup``), and a key
    MLflow would read as another path (``a//b``, ``../x``) loses its slashes. The trial keeps the
    original name in Optuna and ``optimization_results.yaml``: this is only the run's param key.
    """
    key = REFUSED.sub("_", name.lstrip("+~")) or "_"
    norm = posixpath.normpath(key)
    if norm != key or key.startswith(("/", "..")) or norm == ".":
        key = key.replace("/", "_")
        if key.startswith("..") or key == ".":
            key = "_" + key
    return key[:MAX_KEY]


def mlflow_params(params: Mapping[str, Any]) -> dict[str, str]:
    """A trial's params under ``mlflow_key`` names, values redacted and within MLflow's limit;
    two names that map to one key (``x`` and ``+x``) keep both, the second with ``_`` added."""
    out: dict[str, str] = {}
    for name, value in params.items():
        key = mlflow_key(str(name))
        while key in out:
            key = key[: MAX_KEY - 1] + "_"
        out[key] = redact_text("null" if value is None else str(value))[:MAX_VALUE]
    return out
