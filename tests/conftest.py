"""Shared fixtures: tiny configs that train in seconds, and isolated stores under tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# the shared helpers live in tests/helpers/; ROOT, TINY, store_overrides and run_train stay
# importable from here for modules that still say `from conftest import ...`
from helpers.run import ROOT, TINY, run_train, store_overrides  # noqa: F401

os.environ.setdefault("CELLSWEEP_ROOT", str(ROOT))
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
# MLflow's log handler keeps the stderr of the first test that used it (a captured stream that
# pytest closes later): keep it quiet so later tests' stderr holds only their own lines.
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")


@pytest.fixture
def tiny(tmp_path: Path) -> list[str]:
    return [*TINY, *store_overrides(tmp_path)]
