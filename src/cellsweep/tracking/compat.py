"""Every private MLflow call the tracking layer makes, each behind one small named function.

The sweep layer's private Optuna, Hydra and submitit calls live in ``cellsweep.sweep.compat``;
the two layers never import each other (DESIGN.md §3), so each has its own. An MLflow upgrade
that renames one of these breaks here, in one place, and ``tests/test_tracking_compat.py``
exercises each against the installed MLflow. Nothing here imports MLflow at module level.
"""

from __future__ import annotations

from typing import Any


def initialize_tables(engine: Any) -> None:
    """Create MLflow's tracking schema on a SQLAlchemy engine, all migrations applied: what
    MLflow does on a new store, run once into the cached template (sqlite_seed.py)."""
    from mlflow.store.db.utils import _initialize_tables

    _initialize_tables(engine)


def drop_cached_engine(uri: str) -> None:
    """Forget (and close) the engine MLflow keeps for ``uri``: one whose database file was
    replaced would go on seeing the removed file."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    engine = SqlAlchemyStore._engine_map.pop(uri, None)
    if engine is not None:
        engine.dispose()
