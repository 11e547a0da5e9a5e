"""DESIGN.md §3: workloads know nothing of Optuna or MLflow; tracking and sweeps know no task."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "cellsweep"

RULES = {
    "tasks": (
        "mlflow",
        "optuna",
        "cellsweep.sweep",
        "cellsweep.tracking",
        "cellsweep.train",
        "hydra",
    ),
    "nn": ("mlflow", "optuna", "cellsweep.sweep", "cellsweep.tracking", "cellsweep.tasks"),
    "tracking": ("cellsweep.tasks", "cellsweep.sweep", "optuna"),
    "sweep": ("cellsweep.tasks", "cellsweep.tracking"),
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def violations(layer: str) -> list[str]:
    bad = []
    for path in sorted((SRC / layer).rglob("*.py")):
        for mod in sorted(imported_modules(path)):
            for banned in RULES[layer]:
                if mod == banned or mod.startswith(banned + "."):
                    bad.append(f"{path.relative_to(SRC)} imports {mod}")
    return bad


@pytest.mark.parametrize("layer", sorted(k for k in RULES if (SRC / k).exists()))
def test_layer_imports(layer: str) -> None:
    assert violations(layer) == []


def test_checker_catches_a_violation(tmp_path, monkeypatch) -> None:
    """The rule is enforced by code that can fail: plant a bad import and see it caught."""
    fake = tmp_path / "cellsweep"
    (fake / "tasks").mkdir(parents=True)
    (fake / "tasks" / "bad.py").write_text("import mlflow\nfrom optuna import trial\n")
    monkeypatch.setattr(__import__(__name__), "SRC", fake)
    assert violations("tasks") == ["tasks/bad.py imports mlflow", "tasks/bad.py imports optuna"]


def test_the_sweepers_start_up_path_imports_no_heavy_library() -> None:
    """A worker of any Hydra app reaches its first trial without Lightning, torch, MLflow or
    matplotlib: those come when a trial or the end-of-study report needs them (issue 14)."""
    import subprocess
    import sys

    heavy = ("matplotlib", "lightning", "torch", "mlflow")
    code = (
        "import sys, hydra_plugins.cellsweep_sweeper.cellsweep_sweeper, "
        "cellsweep.sweep.plugin.run, cellsweep.sweep.engine; "
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
