"""A finished sweep as a person sees it: the MLflow UI in headless Chromium lists its runs."""

from __future__ import annotations

import re
import shutil

import pytest

from helpers.run import run_train
from helpers.servers import free_port, mlflow_server_cmd, running_server
from helpers.sweep import sweep_args

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.mark.server("mlflow", "chromium")
@pytest.mark.slow
def test_printed_links_show_the_trials_and_the_study_page(tmp_path, capsys, monkeypatch) -> None:
    """The link a sweep prints opens the runs table in the model-training view, the trials
    sorted by the objective, whose column is shown; the study's page shows its best trial."""
    from playwright.sync_api import sync_playwright

    shot = tmp_path / "ui-sweep.png"  # kept with the test's tmp_path, never in the checkout
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    cmd = mlflow_server_cmd(tmp_path, port)
    with running_server(cmd, f"{uri}/health", tmp_path / "server.log"):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        code, out, err = run_train(
            sweep_args(tmp_path, 3, "tracking=server", "trainer.max_epochs=1"), capsys
        )
        assert code == 0, err
        table = re.search(r"the study's trials, best first: (\S+)", out).group(1)
        page_url = re.search(r"the study's page \(run \w+\): (\S+)", out).group(1)
        assert table.startswith(uri) and "workflowType=machine_learning" in table
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            # not "networkidle": the UI keeps polling, and a loaded machine never goes quiet
            page.goto(table, wait_until="domcontentloaded", timeout=120_000)
            for n in range(3):  # the trials, flat (not nested under the study's run)
                page.get_by_text(f"#{n:02d} ").first.wait_for(timeout=60_000)
            page.get_by_text("val/pred_err", exact=True).first.wait_for(timeout=30_000)
            assert page.get_by_text("Sort: val/pred_err").count() == 1
            assert page.get_by_text("study:t-window").count() == 0  # only its trials
            # the model-training view: its Runs table, not the GenAI overview
            assert page.get_by_text("matching runs").count() == 1
            page.screenshot(path=str(shot))
            page.goto(page_url, wait_until="domcontentloaded", timeout=120_000)
            page.get_by_text("Best:", exact=False).first.wait_for(timeout=60_000)
            assert page.get_by_text("Study t-window").count() >= 1
            assert page.get_by_role("link", name=re.compile(r"trial #\d")).count() >= 1
            assert page.get_by_text("cellsweep adopt t-window", exact=False).count() >= 1
            browser.close()
    assert shot.exists() and shot.stat().st_size > 10_000
    assert shot.read_bytes()[:4] == b"\x89PNG"
