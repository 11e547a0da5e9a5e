"""Free loopback ports and short-lived servers (``mlflow server``, ``cellsweep ui``) for a test."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as r:
            if r.status == 200:
                return
        time.sleep(0.5)
    raise TimeoutError(url)


def mlflow_server_cmd(tmp: Path, port: int) -> list[str]:
    """A loopback `mlflow server` with its SQLite store and artifacts under ``tmp``."""
    return [
        str(BIN / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{tmp / 'server.db'}",
        "--artifacts-destination",
        str(tmp / "server-artifacts"),
        "--workers",
        "1",
    ]


@contextlib.contextmanager
def running_server(cmd: list[str], url: str, log: Path):
    """Run ``cmd`` (in its own process group) until ``url`` answers 200; stop it on exit."""
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_http(url, proc)
            yield proc
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 15)
            proc.wait(timeout=30)


# -- what each `@pytest.mark.server(...)` name needs; None when it is there, else the reason ----
def _mlflow_missing() -> str | None:
    if not (BIN / "mlflow").exists():
        return f"the mlflow command is not installed beside {sys.executable} (make setup)"
    return None


def _postgres_missing() -> str | None:
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not bins and not shutil.which("initdb"):
        return "PostgreSQL is not installed here (Debian: apt-get install postgresql)"
    if os.geteuid() == 0:  # scripts/services.sh runs it as the postgres account then
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "PostgreSQL runs as the postgres account under root, and there is none"
    return None


def _chromium_missing() -> str | None:
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        return "Debian's chromium is not installed (.ci/run installs it)"
    return None


def slurm_missing() -> str | None:
    missing = [b for b in ("slurmctld", "slurmd", "sbatch", "munged") if not shutil.which(b)]
    if missing:
        return (
            f"Slurm is not installed here ({', '.join(missing)} missing; Debian: "
            "apt-get install slurmctld slurmd slurm-client munge)"
        )
    if os.geteuid() != 0:
        return "a local Slurm needs root (slurmd starts the jobs)"
    return None


SERVERS = {
    "mlflow": _mlflow_missing,
    "postgres": _postgres_missing,
    "chromium": _chromium_missing,
    "slurm": slurm_missing,
}
