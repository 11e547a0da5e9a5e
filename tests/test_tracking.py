"""MLflow tracking: redaction, params, a real `mlflow server`, and `cellsweep ui`."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from cellsweep.tracking import flatten, redact_text, redact_uri
from conftest import TINY, run_train, store_overrides

BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "uri, expected",
    [
        ("postgresql://alice:s3cret@db:5432/optuna", "postgresql://***@db:5432/optuna"),
        ("http://token@127.0.0.1:5000", "http://***@127.0.0.1:5000"),
        ("https://h/x?token=abc&run=1", "https://h/x?token=***&run=1"),
        ("sqlite:////tmp/mlruns/mlflow.db", "sqlite:////tmp/mlruns/mlflow.db"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ],
)
def test_redact_uri(uri: str, expected: str) -> None:
    assert redact_uri(uri) == expected


def test_redact_text_and_flatten() -> None:
    cmd = "cellsweep-train storage.url=postgresql://u:pw@h/db seed=1"
    assert "pw" not in redact_text(cmd).replace("pwd", "")
    flat = flatten({"a": {"b": 1, "c": [1, 2]}, "uri": "http://u:pw@h", "n": None})
    assert flat == {"a.b": "1", "a.c": "[1, 2]", "uri": "http://***@h", "n": "null"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
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
def _server(cmd: list[str], url: str, log: Path):
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_http(url, proc)
            yield proc
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 15)
            proc.wait(timeout=30)


@pytest.mark.server
@pytest.mark.skipif(
    shutil.which("mlflow", path=str(BIN)) is None, reason="needs the mlflow server command"
)
def test_run_logged_to_a_real_mlflow_server_without_credentials(tmp_path, capsys, monkeypatch):
    port = _free_port()
    cmd = mlflow_server_cmd(tmp_path, port)
    with _server(cmd, f"http://127.0.0.1:{port}/health", tmp_path / "server.log"):
        secret = "s3cretPW"
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://alice:{secret}@127.0.0.1:{port}")
        code, out, err = run_train(
            [
                "experiment=chemotaxis/model1",
                "tracking=server",
                *TINY,
                *store_overrides(tmp_path),
                "trainer.max_epochs=2",
            ],
            capsys,
        )
        assert code == 0, err
        assert secret not in out + err
        client = MlflowClient(tracking_uri=f"http://127.0.0.1:{port}")
        exp = client.get_experiment_by_name("cellsweep-chemotaxis")
        (run,) = client.search_runs([exp.experiment_id])
        assert run.info.status == "FINISHED"
        assert len(client.get_metric_history(run.info.run_id, "val/pred_err")) == 2
        assert run.data.params["tracking.uri"] == f"http://***@127.0.0.1:{port}"
        # no secret anywhere: params, tags, and every text artifact
        blob = " ".join([*run.data.params.values(), *run.data.tags.values()])
        dest = tmp_path / "dl"
        dest.mkdir()
        for art in client.list_artifacts(run.info.run_id):
            path = Path(client.download_artifacts(run.info.run_id, art.path, str(dest)))
            if path.suffix in (".yaml", ".csv", ".txt", ".json"):
                blob += path.read_text()
        assert "window_steps" in blob  # config.yaml was read
        assert secret not in blob
        assert "alice" not in blob


@pytest.mark.server
def test_cellsweep_ui_serves_the_store_on_loopback(tmp_path) -> None:
    port = _free_port()
    db = tmp_path / "mlruns" / "mlflow.db"
    cmd = [
        str(BIN / "cellsweep"),
        "ui",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{db}",
        "--artifacts",
        str(tmp_path / "art"),
    ]
    log = tmp_path / "ui.log"
    with _server(cmd, f"http://127.0.0.1:{port}/", log) as proc:
        listening = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True).stdout
        lines = [ln for ln in listening.splitlines() if f":{port} " in ln]
        assert lines and all("127.0.0.1:" in ln for ln in lines), listening
        assert proc.poll() is None
    text = log.read_text()
    assert f"http://127.0.0.1:{port}" in text
    assert db.exists()
