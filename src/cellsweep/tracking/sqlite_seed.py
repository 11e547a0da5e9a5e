"""A fresh SQLite tracking store, copied from a migrated empty schema instead of migrated again.

MLflow builds a new SQLite store by running its ~70 Alembic migrations, about a second on a
laptop core, before the first run can be written: in a sweep of quick trials that is one of
the largest one-off costs (benchmarks/sweep_overhead.py). The migrated schema is the same for
every store of one MLflow version, so it is built once per machine, into
``$XDG_CACHE_HOME/cellsweep/`` (``~/.cache/cellsweep/``), and each new store starts as a copy of
it. MLflow then finds every table in place and the schema at its head revision, and adds the
store's default experiment itself, with this store's artifact root.

Anything that goes wrong here only costs the time it was meant to save: the store is left to
MLflow to build, as without this module.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
from pathlib import Path

from cellsweep.tracking import compat

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """Where the schema template lives: per user and machine, shared by every project."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cellsweep"


def template_path() -> Path:
    """The template for the installed MLflow: its version names the schema."""
    from mlflow.version import VERSION

    return cache_dir() / f"mlflow-{VERSION}-schema.db"


def sqlite_path(uri: str | None) -> Path | None:
    """The database file of a ``sqlite:///`` URI; None for other stores and for in-memory."""
    if not uri or not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///") :].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def _valid(template: Path) -> bool:
    """An SQLite file whose schema records a migration head and holds no experiment."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{template}?mode=ro", uri=True)) as db:
            (revisions,) = db.execute("SELECT count(*) FROM alembic_version").fetchone()
            (experiments,) = db.execute("SELECT count(*) FROM experiments").fetchone()
        return revisions == 1 and experiments == 0
    except sqlite3.Error:
        return False


def _build_template(template: Path) -> None:
    """Migrate an empty database into the cache, atomically (concurrent builders are fine)."""
    import sqlalchemy

    template.parent.mkdir(parents=True, exist_ok=True)
    tmp = template.with_name(f".{template.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp}")
    try:
        compat.initialize_tables(engine)
    finally:
        engine.dispose()
    os.replace(tmp, template)


def seed(db: Path) -> bool:
    """Create ``db`` (in an existing folder) as a copy of the migrated empty schema if it does
    not exist yet; True when this call created it. Never raises: on any failure MLflow builds
    the store itself."""
    if db.exists():
        return False
    template = template_path()
    tmp = db.with_name(f".{db.name}.{os.getpid()}.seed")
    try:
        if not _valid(template):
            _build_template(template)
            if not _valid(template):
                return False
        shutil.copyfile(template, tmp)
        os.link(tmp, db)  # atomic, and fails if another process created the store meanwhile
        return True
    except FileExistsError:
        return False
    except Exception as exc:  # a read-only cache, a filesystem without links, a new MLflow API
        log.debug("could not seed %s from the schema template: %s", db, exc)
        return False
    finally:
        tmp.unlink(missing_ok=True)


def discard(uri: str, db: Path) -> None:
    """Remove a store this module seeded that MLflow then refused, and its template, so that
    the retry builds both from scratch (MLflow's engine for the URI is dropped with them: its
    open connection would still see the removed file)."""
    with contextlib.suppress(Exception):
        compat.drop_cached_engine(uri)
    db.unlink(missing_ok=True)
    template_path().unlink(missing_ok=True)
