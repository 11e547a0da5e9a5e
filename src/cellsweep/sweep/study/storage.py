"""Studies: storage, sampler and pruner from config, and create-or-resume with checks.

Storage decides the scale (DESIGN.md §4). A path is a journal file (Optuna's file storage, safe for
several processes on one machine through a lock file); a URL (``postgresql://…``) is an RDB
storage for many machines. Both are what ``optuna-dashboard`` and Optuna's APIs read.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import time
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import hydra
import optuna
from omegaconf import OmegaConf

from cellsweep.errors import ConfigError, MissingExtra
from cellsweep.extras import absent_modules
from cellsweep.sweep.study.identity import (
    FINGERPRINT_ATTR,
    IDENTITY_ATTR,
    StudyIdentity,
    differences,
)

MEMORY = "memory"  # storage: the study lives in this process only
PRUNERS = {
    "none": lambda: optuna.pruners.NopPruner(),
    "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5),
    "successive_halving": lambda: optuna.pruners.SuccessiveHalvingPruner(),
    "hyperband": lambda: optuna.pruners.HyperbandPruner(),
}


def require_driver(url: str) -> None:
    """A PostgreSQL URL with SQLAlchemy's default driver needs cellsweep[postgres] (psycopg2);
    say so in one line rather than SQLAlchemy's ModuleNotFoundError traceback."""
    scheme = url.split("://", 1)[0]
    if scheme in ("postgresql", "postgres", "postgresql+psycopg2"):
        from cellsweep.extras import require

        require("an Optuna storage on PostgreSQL", "postgres")


def make_storage(spec: str | None, default_path: Path) -> optuna.storages.BaseStorage:
    """A journal file for a path (or None: ``default_path``); an RDB storage for a URL;
    nothing kept for ``memory`` (the stock plugin's ``storage: null``)."""
    if spec == MEMORY:
        return optuna.storages.InMemoryStorage()
    if spec and "://" in str(spec):
        require_driver(str(spec))
        import sqlalchemy.exc  # Optuna's RDB storage is built on it

        for attempt in range(4):  # workers on other hosts may be creating the schema right now
            try:
                return optuna.storages.RDBStorage(str(spec))
            except Exception as exc:  # never echo the URL: it may carry a password
                if attempt == 3 or not isinstance(exc, sqlalchemy.exc.IntegrityError):
                    raise ConfigError(
                        f"cannot open the Optuna storage: {type(exc).__name__}"
                    ) from None
                time.sleep(0.5 * (attempt + 1))
    path = Path(spec) if spec else default_path
    path.parent.mkdir(parents=True, exist_ok=True)
    backend = optuna.storages.journal.JournalFileBackend(
        str(path), lock_obj=optuna.storages.journal.JournalFileOpenLock(str(path))
    )
    return optuna.storages.JournalStorage(backend)


class _FileLock:
    """An exclusive ``flock`` on a file beside the journal: one asker at a time on a machine."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = None

    def __enter__(self) -> _FileLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("a")
        fcntl.flock(self._fh, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._fh is not None
        fcntl.flock(self._fh, fcntl.LOCK_UN)
        self._fh.close()
        self._fh = None


class _AdvisoryLock:
    """A PostgreSQL advisory lock on one connection: one asker at a time across machines."""

    def __init__(self, url: str, key: str) -> None:
        import sqlalchemy

        self._sa = sqlalchemy
        self.engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
        self.key = zlib.crc32(key.encode()) - (1 << 31)  # a signed 32-bit key
        self._conn = None

    def __enter__(self) -> _AdvisoryLock:
        if self._conn is None:
            try:
                self._conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            except Exception as exc:  # never echo the URL: it may carry a password
                raise ConfigError(
                    f"cannot reach the Optuna storage: {type(exc).__name__}"
                ) from None
        self._conn.execute(self._sa.text("SELECT pg_advisory_lock(:k)"), {"k": self.key})
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._conn is not None
        self._conn.execute(self._sa.text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})


def ask_lock(spec: str | None, default_path: Path, study_name: str = ""):
    """The lock that makes "count, then ask" (and creating the study's parent run) atomic.

    For a journal file, a lock file beside it (workers on one machine). For PostgreSQL, an
    advisory lock keyed by the study name (workers on any machine). Other databases get none:
    workers there may overshoot ``n_trials`` by at most one trial each.
    """
    if spec == MEMORY:  # one process: nobody else asks
        return contextlib.nullcontext()
    if spec and str(spec).startswith(("postgresql", "postgres://")):
        require_driver(str(spec))
        return _AdvisoryLock(str(spec), f"cellsweep:{study_name}")
    if spec and "://" in str(spec):
        return contextlib.nullcontext()
    path = Path(spec) if spec else default_path
    return _FileLock(path.with_name(path.name + ".ask.lock"))


def _instantiate(node: Any, what: str) -> Any:
    if isinstance(node, Mapping):  # a plain dict or a DictConfig
        node = OmegaConf.create(node)
        if "_target_" not in node:
            raise ConfigError(f"hydra.sweeper.{what} needs a _target_")
        try:
            return hydra.utils.instantiate(node)
        except Exception as exc:
            raise ConfigError(
                f"hydra.sweeper.{what}: cannot build {node._target_}: "
                f"{str(exc).splitlines()[0] if str(exc) else exc}"
            ) from None
    raise ConfigError(f"hydra.sweeper.{what} must be a mapping with _target_, got {node!r}")


def derive_seed(seed: int, n_existing: int, worker: str = "") -> int:
    """The seed of the sampler that asks the trial after ``n_existing`` ones.

    A seeded sampler built afresh by every worker and every resume would replay the same
    random start-up draws; counted under the ask lock, ``n_existing`` is different for every
    ask of a study, so every ask draws fresh points while the study stays reproducible.
    ``worker`` tells apart processes that ask without a lock (SQLite, MySQL).
    """
    if n_existing == 0 and not worker:
        return int(seed)
    digest = hashlib.sha256(f"{seed}:{n_existing}:{worker}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def make_sampler(
    node: Any, seed: int | None, n_existing: int | None = None, worker: str = ""
) -> optuna.samplers.BaseSampler:
    """Any ``optuna.samplers.*`` by ``_target_``; TPE seeded from the run seed by default.

    With ``n_existing``, a seed (the node's own, or the run seed for the default TPE) becomes
    ``derive_seed(seed, n_existing, worker)``: the sampler for the next ask of a study.
    """
    if node is None:
        if seed is not None and n_existing is not None:
            seed = derive_seed(seed, n_existing, worker)
        return optuna.samplers.TPESampler(seed=seed)
    if isinstance(node, Mapping) and n_existing is not None and node.get("seed") is not None:
        node = {**node, "seed": derive_seed(int(node["seed"]), n_existing, worker)}
    sampler = (
        node if isinstance(node, optuna.samplers.BaseSampler) else _instantiate(node, "sampler")
    )
    if not isinstance(sampler, optuna.samplers.BaseSampler):
        raise ConfigError(f"hydra.sweeper.sampler is not an Optuna sampler: {type(sampler)}")
    _check_needs(sampler)
    return sampler


# Optuna samplers that import packages of their own only when they first sample: without this
# check a study fails at its first ask, in a worker, with a traceback from inside Optuna
SAMPLER_NEEDS: dict[str, tuple[str, ...]] = {
    "GPSampler": ("torch", "scipy"),
    "CmaEsSampler": ("cmaes",),
    "QMCSampler": ("scipy",),
}


def _check_needs(sampler: optuna.samplers.BaseSampler) -> None:
    """One line before the study starts when the sampler's own packages are missing."""
    name = type(sampler).__name__
    absent = absent_modules(SAMPLER_NEEDS.get(name, ()))
    if absent:
        fix = (
            "pip install 'cellsweep[science]'"  # torch as tested, with scipy
            if set(absent) <= {"torch", "scipy"}
            else "pip install " + " ".join(absent)
        )
        raise MissingExtra(
            f"hydra.sweeper.sampler {name} needs {', '.join(absent)}, not installed: {fix}"
        )


def seeded(node: Any, seed: int | None) -> bool:
    """Whether the sampler config carries a seed (so that each ask needs its own). A sampler
    object given as is cannot be rebuilt: it is reseeded at random before each ask instead
    (engine.py), which avoids replays at the cost of reproducibility."""
    if node is None:
        return seed is not None
    return isinstance(node, Mapping) and node.get("seed") is not None


def make_pruner(node: Any) -> optuna.pruners.BasePruner:
    """``median``, ``successive_halving``, ``hyperband``, ``none``, or a ``_target_`` mapping."""
    if node is None:
        return optuna.pruners.NopPruner()
    if isinstance(node, str):
        if node not in PRUNERS:
            raise ConfigError(
                f"hydra.sweeper.pruner must be one of {sorted(PRUNERS)}, got {node!r}"
            )
        return PRUNERS[node]()
    pruner = node if isinstance(node, optuna.pruners.BasePruner) else _instantiate(node, "pruner")
    if not isinstance(pruner, optuna.pruners.BasePruner):
        raise ConfigError(f"hydra.sweeper.pruner is not an Optuna pruner: {type(pruner)}")
    return pruner


def normalize_directions(direction: Any) -> list[str]:
    """A list of directions, checked once, whichever form the file wrote."""
    items = [direction] if isinstance(direction, str) else list(direction or [])
    if not items:
        raise ConfigError("hydra.sweeper.direction must be minimize, maximize, or a list of them")
    for d in items:
        if d not in ("minimize", "maximize"):
            raise ConfigError(
                f"hydra.sweeper.direction entries must be minimize or maximize, got {d!r}"
            )
    return [str(d) for d in items]


def check_identity(
    summary: optuna.study.StudySummary, name: str, identity: StudyIdentity | None
) -> None:
    """A stored study made by another command (other data, task, fixed config or space) is
    never resumed: one ConfigError that names what differs and how to start anew."""
    stored = summary.user_attrs.get(IDENTITY_ATTR)
    if identity is None or stored is None:  # a study from elsewhere (Optuna's API) is adopted
        return
    if isinstance(stored, str):
        stored = json.loads(stored)
    if stored == identity.items:
        return
    raise ConfigError(
        f"study {name!r} holds trials of another setup "
        f"(fingerprint {summary.user_attrs.get(FINGERPRINT_ATTR, '?')}, this command's "
        f"{identity.fingerprint}: {differences(stored, identity.items)}); drop "
        "hydra.sweeper.study_name to start a study of its own, or pick a new name"
    )


def open_study(
    storage: optuna.storages.BaseStorage,
    name: str,
    directions: Sequence[str],
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
    identity: StudyIdentity | None = None,
) -> tuple[optuna.Study, bool]:
    """Create the study, or resume it; (study, resumed). A direction or identity mismatch is
    a ConfigError, raised before anything is written."""
    existing = {
        s.study_name: s for s in optuna.get_all_study_summaries(storage, include_best_trial=False)
    }
    if name in existing:
        stored = [d.name.lower() for d in existing[name].directions]
        if stored != list(directions):
            raise ConfigError(
                f"study {name!r} exists with direction {stored}, not {list(directions)}"
            )
        check_identity(existing[name], name, identity)
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        directions=list(directions),
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )
    if identity is not None and IDENTITY_ATTR not in study.user_attrs:
        study.set_user_attr(IDENTITY_ATTR, identity.items)
        study.set_user_attr(FINGERPRINT_ATTR, identity.fingerprint)
    return study, name in existing
