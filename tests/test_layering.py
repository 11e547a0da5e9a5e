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


# What `pip install cellsweep` leaves out (pyproject.toml's extras), and the modules that need it.
EXTRA_ONLY = ("torch", "lightning", "pytorch_lightning", "scipy", "sklearn", "matplotlib",
              "pandas", "pyarrow", "flask", "psycopg2", "submitit")  # fmt: skip
NEEDS_AN_EXTRA = {"tasks", "nn", "train", "callbacks", "tracking.callback"}


def core_modules() -> list[str]:
    """Every module of the core install: the sweeper plugin, the sweep layer, tracking, CLI."""
    found = ["hydra_plugins.cellsweep_sweeper.cellsweep_sweeper"]
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        dotted = ".".join(p for p in parts if p != "__init__")
        if not any(dotted == n or dotted.startswith(n + ".") for n in NEEDS_AN_EXTRA):
            found.append(f"cellsweep.{dotted}" if dotted else "cellsweep")
    return found


def test_the_core_imports_and_says_which_extra_is_missing_without_the_extras() -> None:
    """With torch, Lightning, scipy, matplotlib, psycopg2 and submitit made unimportable (as in
    a core install), every core module imports, and each feature that needs an extra says which
    one in one line: no ImportError traceback from inside it."""
    import subprocess
    import sys

    code = f"""
import importlib, importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {EXTRA_ONLY!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}")
sys.meta_path.insert(0, Block())
import importlib.util
real = importlib.util.find_spec
def find_spec(name, package=None):
    if name.split(".")[0] in {EXTRA_ONLY!r}:
        return None
    return real(name, package)
importlib.util.find_spec = find_spec
for mod in {core_modules()!r}:
    importlib.import_module(mod)
print("imported", sorted(m for m in {EXTRA_ONLY!r} if m in sys.modules))
try:
    from cellsweep import OptunaPruning
except ImportError as exc:
    print("callback:", exc)
from cellsweep import extras
from cellsweep.errors import MissingExtra
for what, extra in (("storage", "postgres"), ("launcher", "slurm"), ("ui", "ui")):
    try:
        extras.require(what, extra)
    except MissingExtra as exc:
        print("extra:", exc)
from cellsweep.sweep.study.storage import make_storage
try:
    make_storage("postgresql://u:secret@h/db", None)
except MissingExtra as exc:
    print("storage:", exc)
try:
    extras.train_main()
except SystemExit as exc:
    print("train exit", exc.code)
from cellsweep.sweep.study.storage import make_sampler
try:
    make_sampler({{"_target_": "optuna.samplers.GPSampler", "seed": 0}}, 0)
except MissingExtra as exc:
    print("sampler:", exc)
make_sampler({{"_target_": "optuna.samplers.CmaEsSampler"}}, 0)  # cmaes is a core dependency
print("cmaes ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "imported []", out.stdout
    assert lines[1] == (
        "callback: cellsweep.OptunaPruning needs cellsweep[lightning] (no torch, lightning): "
        "pip install 'cellsweep[lightning]'"
    )
    assert "storage needs cellsweep[postgres] (no psycopg2)" in lines[2]
    assert "launcher needs cellsweep[slurm] (no submitit)" in lines[3]
    assert "ui needs cellsweep[ui] (no flask)" in lines[4]
    assert "PostgreSQL needs cellsweep[postgres]" in lines[5] and "secret" not in lines[5]
    assert lines[6] == "train exit 2"
    assert lines[7] == (
        "sampler: hydra.sweeper.sampler GPSampler needs torch, scipy, not installed: "
        "pip install 'cellsweep[science]'"
    )
    assert lines[8] == "cmaes ok"
    assert out.stderr.strip() == (
        "cellsweep-train needs cellsweep[science] (no torch, lightning, scipy, matplotlib): "
        "pip install 'cellsweep[science]'"
    )


def test_every_extra_is_found_in_the_development_install() -> None:
    """`make setup` installs every extra (constraints.txt): none may be reported missing."""
    from cellsweep import extras

    assert {e: extras.missing(e) for e in extras.EXTRAS} == {e: [] for e in extras.EXTRAS}
