"""Where a sweep keeps its study and its MLflow runs when the app's config says nothing.

cellsweep-train has ``paths.sweeps_dir``, a ``storage`` group and a ``tracking`` node; any other
Hydra app has none of these, and needs none: the sweeper's own keys default to a journal file
under ``sweeps/`` and an MLflow SQLite store under ``mlruns/``, both in the directory the app was
launched from (where MLflow and Optuna users expect them). Each can be pointed elsewhere or
turned off (``storage: memory``, ``tracking: false``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from cellsweep.errors import ConfigError

OFF = (False, "false", "none", "off")
JOURNAL = "optuna.journal"  # the study storage file in a sweeps folder


def journal_path(sweeps: Path) -> Path:
    """The default study storage: one journal file per sweeps folder, every study in it."""
    return sweeps / JOURNAL


def mlflow_store(base: Path) -> tuple[str, Path]:
    """The embedded MLflow store under ``base``: (``sqlite:///base/mlruns/mlflow.db``,
    ``base/mlruns/artifacts``), where MLflow users expect it and ``cellsweep ui`` looks."""
    mlruns = base / "mlruns"
    return f"sqlite:///{mlruns / 'mlflow.db'}", mlruns / "artifacts"


def launch_dir(config: DictConfig) -> Path:
    """The directory the app was started from (Hydra's ``runtime.cwd``)."""
    cwd = OmegaConf.select(config, "hydra.runtime.cwd", default=None)
    return Path(str(cwd)) if cwd else Path.cwd()


def sweeps_dir(config: DictConfig, key: Any) -> Path:
    """The sweeper's ``sweeps_dir``, else the app's ``paths.sweeps_dir``, else ``./sweeps``."""
    if key:
        return Path(str(key))
    app = OmegaConf.select(config, "paths.sweeps_dir", default=None)
    return Path(str(app)) if app else launch_dir(config) / "sweeps"


def storage_spec(config: DictConfig, key: Any) -> str | None:
    """The study storage: the sweeper's ``storage``, else the app's ``storage`` group
    (cellsweep-train's ``storage=postgres``); None means the journal file in ``sweeps_dir``."""
    if key:
        return str(key)
    group = OmegaConf.select(config, "storage", default=None)
    if not isinstance(group, DictConfig) or "name" not in group:
        return None  # not cellsweep's storage group: an app's own key of that name
    url = group.get("url")
    if group.get("name") == "postgres" and not url:
        raise ConfigError(
            "storage=postgres needs CELLSWEEP_OPTUNA_STORAGE=postgresql://user:password@host/db "
            "in the environment (see `make services`)"
        )
    return str(url) if url else None


def tracking_config(config: DictConfig, key: Any) -> dict[str, Any] | None:
    """MLflow settings for the study's runs, or None (no MLflow).

    ``tracking: null`` takes the app's ``tracking`` node when it has one (cellsweep-train),
    else a SQLite store in ``mlruns/`` of the launch directory, experiment named after the app;
    ``false`` turns MLflow off; a mapping is laid over that default (``uri``, ``experiment``...).
    """
    if isinstance(key, str | bool) and str(key).lower() in {str(o).lower() for o in OFF}:
        return None
    app = OmegaConf.select(config, "tracking", default=None)
    if key is None and isinstance(app, DictConfig) and "uri" in app:
        out = OmegaConf.to_container(app, resolve=True)
        return out if out.get("enabled", True) else None
    uri, artifacts = mlflow_store(launch_dir(config))
    out: dict[str, Any] = {
        "enabled": True,
        "uri": uri,
        "artifact_location": str(artifacts),
        "experiment": str(OmegaConf.select(config, "hydra.job.name", default=None) or "sweep"),
    }
    if key is not None:
        if not isinstance(key, Mapping):
            raise ConfigError(
                f"hydra.sweeper.tracking must be null, false or a mapping, got {key!r}"
            )
        out.update(key)
    return out if out.get("enabled", True) else None
