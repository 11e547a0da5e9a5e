"""Each private MLflow call of tracking/compat.py, exercised against the installed MLflow: an
upgrade that renames or changes one fails here, not in the middle of a user's first run."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy
from mlflow.tracking import MlflowClient

from cellsweep.tracking import compat


def test_initialize_tables_builds_mlflows_whole_schema(tmp_path: Path) -> None:
    db = tmp_path / "schema.db"
    engine = sqlalchemy.create_engine(f"sqlite:///{db}")
    try:
        compat.initialize_tables(engine)
    finally:
        engine.dispose()
    with sqlite3.connect(db) as con:
        tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master")}
        (revisions,) = con.execute("SELECT count(*) FROM alembic_version").fetchone()
    assert {"experiments", "runs", "metrics", "params", "tags"} <= tables and revisions == 1
    # MLflow accepts it as a migrated store: no migration runs, and runs can be written
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    run = client.create_run(client.create_experiment("e"))
    assert client.get_run(run.info.run_id).info.status == "RUNNING"


def test_drop_cached_engine_forgets_mlflows_engine_for_a_uri(tmp_path: Path) -> None:
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    uri = f"sqlite:///{tmp_path / 'e.db'}"
    MlflowClient(tracking_uri=uri).search_experiments()  # MLflow caches the URI's engine
    assert uri in SqlAlchemyStore._engine_map
    compat.drop_cached_engine(uri)
    assert uri not in SqlAlchemyStore._engine_map
    compat.drop_cached_engine(uri)  # a URI it never held: nothing to do
