"""MLflow tracking: redaction, params, a real `mlflow server`, and `cellsweep ui`."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from cellsweep.tracking import flatten, redact_text, redact_uri
from helpers.run import TINY, run_train, store_overrides
from helpers.servers import BIN, free_port, mlflow_server_cmd, running_server, wait_http


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


@pytest.mark.server("mlflow")
def test_run_logged_to_a_real_mlflow_server_without_credentials(tmp_path, capsys, monkeypatch):
    port = free_port()
    cmd = mlflow_server_cmd(tmp_path, port)
    with running_server(cmd, f"http://127.0.0.1:{port}/health", tmp_path / "server.log"):
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


@pytest.mark.server("mlflow")
def test_cellsweep_ui_serves_the_store_on_loopback(tmp_path) -> None:
    port = free_port()
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
    with running_server(cmd, f"http://127.0.0.1:{port}/", log) as proc:
        listening = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True).stdout
        lines = [ln for ln in listening.splitlines() if f":{port} " in ln]
        assert lines and all("127.0.0.1:" in ln for ln in lines), listening
        assert proc.poll() is None
    text = log.read_text()
    assert f"http://127.0.0.1:{port}" in text
    assert db.exists()


@pytest.mark.slow
@pytest.mark.server("mlflow")
def test_training_goes_on_through_an_mlflow_server_outage(tmp_path) -> None:
    """The server is stopped mid-training and started again: training never waits, one warning
    marks the outage and one line its end, and every epoch's metrics reach the run, the
    gap's included (their timestamps fall inside the outage)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = mlflow_server_cmd(tmp_path, port)
    # MLflow's own HTTP retry settings are cellsweep's (tracking/run.py), not the test's
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_HTTP_REQUEST")}
    env["MLFLOW_TRACKING_URI"] = url
    epochs = 600  # outlasts the server's shutdown and restart on a fast machine (300 did not)
    argv = [
        sys.executable,
        "-m",
        "cellsweep.train",
        "experiment=chemotaxis/model1",
        "tracking=server",
        "tracking.retry_s=0.5",
        *TINY,
        *store_overrides(tmp_path),
        f"trainer.max_epochs={epochs}",
    ]
    log = tmp_path / "server.log"
    with log.open("w") as fh:
        server = subprocess.Popen(cmd, stdout=fh, stderr=fh, start_new_session=True)
    wait_http(f"{url}/health", server)
    out: list[str] = []
    train = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    reader = threading.Thread(target=lambda: out.extend(train.stdout), daemon=True)
    reader.start()
    client = MlflowClient(tracking_uri=url)
    try:
        run_id, deadline = None, time.time() + 180
        while time.time() < deadline:  # until a few epochs have reached the server
            time.sleep(0.5)
            exp = client.get_experiment_by_name("cellsweep-chemotaxis")
            runs = client.search_runs([exp.experiment_id]) if exp else []
            if runs and len(client.get_metric_history(runs[0].info.run_id, "val/pred_err")) >= 3:
                run_id = runs[0].info.run_id
                break
        assert run_id is not None and train.poll() is None, "".join(out)[-3000:]
        down = time.time() * 1000  # the server stops taking requests as soon as it is told
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        time.sleep(4.0)
        with log.open("a") as fh:
            server = subprocess.Popen(cmd, stdout=fh, stderr=fh, start_new_session=True)
        wait_http(f"{url}/health", server)
        up = time.time() * 1000
        assert train.wait(timeout=400) == 0, "".join(out)[-3000:]
        reader.join(timeout=10)
        text = "".join(out)
        assert "Traceback" not in text, text[-3000:]
        assert text.count("MLflow unreachable") == 1, text[-3000:]
        assert text.count("MLflow reachable again") == 1, text[-3000:]
        assert "were not logged" not in text
        history = client.get_metric_history(run_id, "val/pred_err")
        assert sorted(m.step for m in history) == list(range(epochs))
        gap = [m for m in history if down < m.timestamp < up]
        assert gap, "no epoch was trained while the server was down"
        assert client.get_run(run_id).info.status == "FINISHED"
    finally:
        if train.poll() is None:
            train.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.server("mlflow")
def test_a_sweep_goes_on_to_its_next_trial_when_the_server_comes_back(tmp_path) -> None:
    """A 20 s outage of the server while a sweep's first trial trains, with MLflow's HTTP
    settings left to cellsweep: one warning and one end line, the next trial starts within 5 s
    of the server's return (or of the fit's end, if later), and no metric is lost."""
    from helpers.sweep import load, sweep_command

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = mlflow_server_cmd(tmp_path, port)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_HTTP_REQUEST")}
    env["MLFLOW_TRACKING_URI"] = url
    epochs = 300
    argv = [*sweep_command(tmp_path, 2, epochs=epochs), "tracking=server"]
    log = tmp_path / "server.log"
    with log.open("w") as fh:
        server = subprocess.Popen(cmd, stdout=fh, stderr=fh, start_new_session=True)
    wait_http(f"{url}/health", server)
    out: list[str] = []
    sweep = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    reader = threading.Thread(target=lambda: out.extend(sweep.stdout), daemon=True)
    reader.start()
    client = MlflowClient(tracking_uri=url)
    try:
        first, deadline = None, time.time() + 300
        while time.time() < deadline and first is None:
            time.sleep(0.3)
            exp = client.get_experiment_by_name("cellsweep-chemotaxis")
            runs = client.search_runs([exp.experiment_id]) if exp else []
            for run in runs:
                if run.data.tags.get("cellsweep.trial") != "0":
                    continue
                if len(client.get_metric_history(run.info.run_id, "val/pred_err")) >= 3:
                    first = run.info.run_id
        assert first is not None and sweep.poll() is None, "".join(out)[-3000:]
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        time.sleep(20.0)
        with log.open("a") as fh:
            server = subprocess.Popen(cmd, stdout=fh, stderr=fh, start_new_session=True)
        wait_http(f"{url}/health", server)
        up = time.time()
        assert sweep.wait(timeout=600) == 0, "".join(out)[-3000:]
        reader.join(timeout=10)
        text = "".join(out)
        assert text.count("MLflow unreachable") == 1, text[-3000:]
        assert text.count("MLflow reachable again") == 1, text[-3000:]
        assert "Retrying" not in text and "were not logged" not in text, text[-3000:]
        study = load(tmp_path)
        trials = {t.number: t for t in study.trials}
        assert len(trials) == 2 and all(t.state.name == "COMPLETE" for t in trials.values())
        fit_end = client.get_metric_history(first, "time/fit_s")[0].timestamp / 1000
        waited = trials[1].datetime_start.timestamp() - max(up, fit_end)
        assert waited <= 5.0, (waited, up, fit_end, text[-4000:])
        for t in trials.values():  # every epoch of both trials reached the server
            history = client.get_metric_history(t.user_attrs["mlflow_run_id"], "val/pred_err")
            assert sorted(m.step for m in history) == list(range(epochs))
    finally:
        if sweep.poll() is None:
            sweep.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_mlflows_http_retries_are_left_to_cellsweep(monkeypatch) -> None:
    """A few quick retries and a short timeout unless the user set their own; urllib3's
    retry warnings from the metrics thread are dropped (the sender reports the outage)."""
    import logging

    from cellsweep.tracking import run as tracking_run
    from cellsweep.tracking.sender import SENDER_THREAD

    for key in tracking_run.HTTP_SETTINGS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    tracking_run.own_outages()
    from mlflow.environment_variables import (
        MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR,
        MLFLOW_HTTP_REQUEST_MAX_RETRIES,
        MLFLOW_HTTP_REQUEST_TIMEOUT,
    )

    assert MLFLOW_HTTP_REQUEST_MAX_RETRIES.get() == 2
    assert MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR.get() == 1
    assert MLFLOW_HTTP_REQUEST_TIMEOUT.get() == 60  # the user's own
    pool = logging.getLogger("urllib3.connectionpool")
    record = pool.makeRecord(pool.name, logging.WARNING, __file__, 1, "Retrying", (), None)
    seen: list[bool] = []
    worker = threading.Thread(target=lambda: seen.append(pool.filter(record)), name=SENDER_THREAD)
    worker.start()
    worker.join()
    assert seen == [False] and pool.filter(record)


def test_metrics_the_server_never_takes_are_saved_and_reported_once(tmp_path, caplog) -> None:
    """An outage that outlasts the run: the unsent values go to a JSON file, one warning each
    for the outage and for the loss, and the caller is not blocked past the flush timeout."""
    import json
    import logging

    from mlflow.entities import Metric

    from cellsweep.tracking.sender import MetricSender

    class Down:
        calls = 0

        def log_batch(self, run_id, metrics):
            Down.calls += 1
            raise ConnectionError("connection refused by http://u:hunter2@127.0.0.1:9")

    with caplog.at_level(logging.WARNING, logger="cellsweep.tracking"):
        sender = MetricSender(Down(), "run1", retry_s=0.05)
        for step in range(3):
            sender.put([Metric("val/loss", 1.0 / (step + 1), 0, step)])
        t0 = time.time()
        lost = sender.flush(timeout=0.5, spill=tmp_path / "unlogged_metrics.json")
    assert time.time() - t0 < 3.0
    assert lost == 3 and Down.calls >= 2  # tried again, not once
    saved = json.loads((tmp_path / "unlogged_metrics.json").read_text())
    assert [m["step"] for m in saved["metrics"]] == [0, 1, 2]
    warnings = [r.getMessage() for r in caplog.records]
    assert sum("MLflow unreachable" in w for w in warnings) == 1
    assert sum("were not logged" in w for w in warnings) == 1
    assert "hunter2" not in " ".join(warnings)


def test_metrics_queued_behind_a_slow_server_go_in_few_requests_in_order() -> None:
    """Epochs faster than the server: what queued up meanwhile is merged into one request (up to
    the per-call limit), so the run's end does not wait for one round trip per epoch."""
    import threading

    from mlflow.entities import Metric

    from cellsweep.tracking.sender import MetricSender

    class Slow:
        def __init__(self) -> None:
            self.calls: list[list[int]] = []
            self.gate = threading.Event()

        def log_batch(self, run_id, metrics):
            self.gate.wait(5)  # the first request stalls until every epoch is queued
            time.sleep(0.02)
            self.calls.append([m.step for m in metrics])

    client = Slow()
    sender = MetricSender(client, "run1", retry_s=0.05, max_per_call=25)
    for step in range(60):
        sender.put([Metric("train/loss", 1.0, 0, step), Metric("val/loss", 1.0, 0, step)])
    client.gate.set()
    assert sender.flush(timeout=10) == 0
    sent = [s for call in client.calls for s in call]
    assert sent == sorted(sent) and sorted(set(sent)) == list(range(60))  # all, in order
    assert len(sent) == 120
    assert all(len(call) <= 25 for call in client.calls)  # 12 epochs (24 values) a request
    assert len(client.calls) <= 7  # the first, then 59 epochs in requests of 12
