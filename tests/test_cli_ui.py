"""`cellsweep ui` stopped by a signal takes its MLflow server (and the server's workers) along."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.servers import free_port


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _server_processes(port: int) -> list[int]:
    """Processes whose command line serves this port (the UI and its web-server workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(port).encode() in argv and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.server("mlflow")
def test_ui_stopped_by_sigterm_leaves_no_listener(tmp_path) -> None:
    """SIGINT (Ctrl-C) takes the same path."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "cellsweep.cli",
        "ui",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{tmp_path / 'ui.db'}",
        "--artifacts",
        str(tmp_path / "artifacts"),
    ]
    log = (tmp_path / "ui.log").open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180  # a loaded CI machine starts MLflow slowly
        while not _listening(port):
            assert proc.poll() is None, (tmp_path / "ui.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the UI never listened"
            time.sleep(0.5)
        assert len(_server_processes(port)) >= 2  # cellsweep ui and the server it started
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert not _listening(port)
        assert _server_processes(port) == []
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
