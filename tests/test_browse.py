"""A finished sweep as a person sees it: the MLflow UI in headless Chromium lists its runs."""

from __future__ import annotations

import shutil

import pytest
from mlflow.tracking import MlflowClient

from helpers.run import run_train
from helpers.servers import free_port, mlflow_server_cmd, running_server
from helpers.sweep import sweep_args

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.server("mlflow", "chromium")
@pytest.mark.slow
def test_mlflow_ui_lists_parent_and_child_runs(tmp_path, capsys, monkeypatch) -> None:
    from playwright.sync_api import sync_playwright

    shot = tmp_path / "ui-sweep.png"  # kept with the test's tmp_path, never in the checkout
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    cmd = mlflow_server_cmd(tmp_path, port)
    with running_server(cmd, f"{uri}/health", tmp_path / "server.log"):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        code, _, err = run_train(
            sweep_args(tmp_path, 2, "tracking=server", "trainer.max_epochs=1"), capsys
        )
        assert code == 0, err
        client = MlflowClient(tracking_uri=uri)
        exp = client.get_experiment_by_name("cellsweep-chemotaxis")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                ],
            )
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            # MLflow 3 opens experiments on a GenAI overview: go to the training-runs table
            # not "networkidle": the UI keeps polling, and a loaded machine never goes quiet
            page.goto(
                f"{uri}/#/experiments/{exp.experiment_id}/runs",
                wait_until="domcontentloaded",
                timeout=120_000,
            )
            page.get_by_text("study:t-window").first.wait_for(timeout=60_000)
            # child runs are nested under the parent: expand it, then both trials show
            page.locator("button[data-component-id*='runnamecellrenderer']").first.click()
            for name in ("t-window#0", "t-window#1"):
                page.get_by_text(name).first.wait_for(timeout=30_000)
            page.screenshot(path=str(shot), full_page=True)
            browser.close()
    assert shot.exists() and shot.stat().st_size > 10_000
    assert shot.read_bytes()[:4] == b"\x89PNG"
