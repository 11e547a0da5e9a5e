"""A new SQLite tracking store is a copy of the cached migrated schema: MLflow accepts it as its
own, gives it its own default experiment, and a bad template costs nothing but the time."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import mlflow.store.db.utils as db_utils
import pytest

from cellsweep.tracking import run as tracking_run
from cellsweep.tracking import sqlite_seed
from cellsweep.tracking.run import TrackingSettings, client_for


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(tracking_run, "_CLIENTS", {})
    return tmp_path / "xdg" / "cellsweep"


def settings(db: Path) -> TrackingSettings:
    return TrackingSettings(True, f"sqlite:///{db}", None, "seeded")


def experiments(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT experiment_id, name, creation_time FROM experiments").fetchall()


def test_second_store_is_copied_not_migrated_and_works(tmp_path, cache, monkeypatch) -> None:
    first = tmp_path / "a" / "mlruns" / "mlflow.db"
    client_for(settings(first))
    template = sqlite_seed.template_path()
    assert template.parent == cache and template.exists()
    assert sqlite_seed._valid(template)  # no experiment in the template itself

    def no_migrations(engine) -> None:
        raise AssertionError("a seeded store must not be migrated again")

    monkeypatch.setattr(db_utils, "_initialize_tables", no_migrations)
    second = tmp_path / "b" / "mlflow.db"
    started = time.time() * 1000
    client = client_for(settings(second))
    # MLflow made the default experiment itself, now: nothing of the first store came along
    ((exp_id, name, created),) = experiments(second)
    assert (exp_id, name) == (0, "Default") and created >= started
    exp = client.create_experiment("x")
    run = client.create_run(exp)
    client.log_metric(run.info.run_id, "m", 1.5)
    client.set_terminated(run.info.run_id)
    got = client.get_run(run.info.run_id)
    assert got.data.metrics == {"m": 1.5} and got.info.status == "FINISHED"
    assert [e[1] for e in experiments(first)] == ["Default"]


def test_an_existing_store_is_left_alone(tmp_path, cache) -> None:
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"")
    assert not sqlite_seed.seed(db)
    assert db.read_bytes() == b""
    assert sqlite_seed.sqlite_path("http://127.0.0.1:5000") is None
    assert sqlite_seed.sqlite_path("sqlite:///:memory:") is None
    assert sqlite_seed.sqlite_path("sqlite:////x/y.db?mode=rw") == Path("/x/y.db")


def test_a_corrupt_template_is_rebuilt(tmp_path, cache) -> None:
    template = sqlite_seed.template_path()
    template.parent.mkdir(parents=True)
    template.write_bytes(b"not a database")
    db = tmp_path / "mlflow.db"
    assert sqlite_seed.seed(db)
    assert sqlite_seed._valid(template)
    client_for(settings(db)).search_experiments()


def test_a_template_mlflow_refuses_is_discarded_and_the_store_built_anew(
    tmp_path, cache, caplog
) -> None:
    client_for(settings(tmp_path / "first.db"))  # builds the template
    template = sqlite_seed.template_path()
    with sqlite3.connect(template) as con:  # a schema at an older revision
        con.execute("UPDATE alembic_version SET version_num = '0a8213491aaa'")
    db = tmp_path / "second.db"
    client = client_for(settings(db))
    assert "building it anew" in caplog.text
    assert client.search_experiments()[0].name == "Default"
    assert not template.exists() or sqlite_seed._valid(template)
