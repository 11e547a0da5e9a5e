"""Shared fixtures and hooks: tiny configs that train in seconds, stores under tmp_path, tests
that need a server skipped (with the reason) where it cannot run, and a run that writes into
the checkout fails."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import helpers.run

# the shared helpers live in tests/helpers/; ROOT, TINY, store_overrides and run_train stay
# importable from here for modules that still say `from conftest import ...`
from helpers.run import ROOT, TINY, run_train, store_overrides  # noqa: F401
from helpers.servers import SERVERS

os.environ.setdefault("CELLSWEEP_ROOT", str(ROOT))
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
# MLflow's log handler keeps the stderr of the first test that used it (a captured stream that
# pytest closes later): keep it quiet so later tests' stderr holds only their own lines.
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")


@pytest.fixture(scope="session", autouse=True)
def _shared_simulation_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """store_overrides() points paths.cache_dir here: one simulation per config per session."""
    helpers.run.SHARED_CACHE = tmp_path_factory.mktemp("sim-cache")


@pytest.fixture
def tiny(tmp_path: Path) -> list[str]:
    return [*TINY, *store_overrides(tmp_path)]


# -- @pytest.mark.server("mlflow", "postgres", ...): skipped, with the reason, where missing ---
# The summary groups the skip reports by reason; they reach the controller under xdist too.


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing: dict[str, str | None] = {}
    for item in items:
        names = [n for m in item.iter_markers("server") for n in m.args]
        if item.get_closest_marker("server") and not names:
            raise pytest.UsageError(
                f"{item.nodeid}: say which servers it starts, e.g. @pytest.mark.server('mlflow')"
            )
        for name in names:
            if name not in SERVERS:
                raise pytest.UsageError(
                    f"{item.nodeid}: unknown server {name!r} (known: {', '.join(SERVERS)})"
                )
            if name not in missing:
                missing[name] = SERVERS[name]()
            # on CI a cluster that cannot start fails the Slurm tests rather than skipping them
            if name == "slurm" and os.environ.get("CELLSWEEP_REQUIRE_SLURM") == "1":
                continue
            if missing[name]:
                reason = f"needs {name}: {missing[name]}"
                item.add_marker(pytest.mark.skip(reason=reason))
                break


def _server_skips(terminalreporter) -> dict[str, list[str]]:
    """The tests skipped for a missing server, by reason, from the run's skip reports."""
    skipped: dict[str, list[str]] = {}
    for rep in terminalreporter.stats.get("skipped", []):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        reason = reason.removeprefix("Skipped: ")
        if reason.startswith("needs ") and reason.split(":")[0][6:] in SERVERS:
            skipped.setdefault(reason, []).append(rep.nodeid)
    return skipped


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    skipped = _server_skips(terminalreporter)
    if skipped:
        terminalreporter.section("tests skipped: a server they need is missing here", sep="-")
        for reason, ids in skipped.items():
            terminalreporter.write_line(f"{len(ids)} skipped, {reason}")
    problem = config.stash.get(TREE_PROBLEM, None)
    if problem:
        terminalreporter.section("the test run wrote into the checkout", sep="-", red=True)
        for line in problem:
            terminalreporter.write_line(line)


# -- no test writes into the checkout: compare `git status` at the start and at the end --------
TREE_START = pytest.StashKey[dict[str, set[str]] | None]()
TREE_PROBLEM = pytest.StashKey[list[str]]()
NOT_OURS = {".pytest_cache", "__pycache__", ".venv", ".ruff_cache"}


def _ours(path: str) -> bool:
    parts = Path(path).parts
    return not any(p in NOT_OURS or p.endswith(".egg-info") or p.startswith(".venv") for p in parts)


def _tree() -> dict[str, set[str]] | None:
    """Every untracked or ignored path `git status --porcelain --ignored` reports (the files
    inside a reported folder too), or None where ROOT is not the top of a git checkout."""
    if shutil.which("git") is None:
        return None
    top = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--show-toplevel"], capture_output=True, text=True
    )
    if top.returncode != 0 or Path(top.stdout.strip()).resolve() != ROOT:
        return None
    out = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--ignored", "-z"],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        return None
    tree: dict[str, set[str]] = {}
    for entry in filter(None, out.stdout.split("\0")):
        state, path = entry[:2], entry[3:]
        # new files only (untracked, ignored): a tracked file edited while the tests run is
        # someone's work in progress, not a test's output
        if state not in ("??", "!!") or not _ours(path):
            continue
        paths = {path}
        if path.endswith("/"):
            for base, dirs, files in os.walk(ROOT / path):
                dirs[:] = [d for d in dirs if _ours(d)]
                paths |= {str(Path(base, f).relative_to(ROOT)) for f in files if _ours(f)}
        tree.setdefault(state, set()).update(paths)
    return tree


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):  # the controller only, under xdist
        session.config.stash[TREE_START] = _tree()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before = session.config.stash.get(TREE_START, None)
    after = _tree() if before is not None else None
    if before is None or after is None:
        return
    new = sorted(
        f"{state} {path}"
        for state, paths in after.items()
        for path in paths - before.get(state, set())
    )
    if new:
        session.config.stash[TREE_PROBLEM] = [
            *new[:30],
            *([f"... and {len(new) - 30} more"] if len(new) > 30 else []),
            "tests keep what they write under tmp_path (git status --porcelain --ignored)",
        ]
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
