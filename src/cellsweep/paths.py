"""Where the project lives: configs, stores and caches are resolved against its root."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf


def project_root() -> Path:
    """$CELLSWEEP_ROOT, else the checkout holding this package (conf/ beside src/), else cwd."""
    env = os.environ.get("CELLSWEEP_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve().parents[2]
    if (here / "conf" / "train.yaml").exists():
        return here
    return Path.cwd().resolve()


def config_dir() -> Path:
    """The ``conf/`` tree Hydra composes from: it lives beside the project root, not the package."""
    return project_root() / "conf"


def register_resolvers() -> None:
    """``${cellsweep_root:}`` in configs; idempotent."""
    if not OmegaConf.has_resolver("cellsweep_root"):
        OmegaConf.register_new_resolver("cellsweep_root", lambda: str(project_root()))
