"""Which optional extra each feature needs, checked before anything of it is imported.

``pip install cellsweep`` is the sweeper, tracking and the ``cellsweep`` CLI; the rest comes by
role (pyproject.toml, README "Install"). A feature used without its extra says so in one line
(``cellsweep-train needs cellsweep[science] ...``, exit 2) instead of an ImportError traceback
from somewhere inside it. Checks look modules up without importing them: cheap, and a worker's
start-up path never pays for a heavy import here.
"""

from __future__ import annotations

import importlib.util
import sys

from cellsweep.errors import MissingExtra

# extra -> the modules whose absence means it is not installed
EXTRAS: dict[str, tuple[str, ...]] = {
    "lightning": ("torch", "lightning"),
    "plots": ("matplotlib",),
    "ui": ("flask",),  # full mlflow: the server behind `mlflow ui`
    "science": ("torch", "lightning", "scipy", "matplotlib"),
    "postgres": ("psycopg2",),
    "slurm": ("submitit", "hydra_plugins.hydra_submitit_launcher"),
}


def _absent(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):  # a parent package that is missing or half-installed
        return True


def absent_modules(modules: tuple[str, ...] | list[str]) -> list[str]:
    """Those of ``modules`` that cannot be found, looked up without importing them."""
    return [m for m in modules if _absent(m)]


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be found (empty when it is installed)."""
    return absent_modules(EXTRAS[extra])


def has(extra: str) -> bool:
    """Whether everything ``extra`` brings can be imported."""
    return not missing(extra)


def message(what: str, extra: str) -> str:
    """The one line a user reads: what needs which extra, what is missing, what to run."""
    absent = ", ".join(missing(extra)) or "?"
    return f"{what} needs cellsweep[{extra}] (no {absent}): pip install 'cellsweep[{extra}]'"


def require(what: str, extra: str) -> None:
    """Raise ``MissingExtra`` (one line, exit 2 through cli_errors.run_cli) without ``extra``."""
    if not has(extra):
        raise MissingExtra(message(what, extra))


def train_main() -> None:
    """``cellsweep-train``'s console entry: the extra is checked before the workloads' imports
    (torch, Lightning, scipy) can fail with a traceback."""
    if not has("science"):
        print(message("cellsweep-train", "science"), file=sys.stderr)
        raise SystemExit(MissingExtra.exit_code)
    from cellsweep.train import main

    main()
