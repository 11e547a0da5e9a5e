"""`make screenshots`: the README's picture of a study's MLflow page, made from a real study.

Runs a small window study (8 trials, a few epochs, pruning on) into a temporary folder, serves
its store with `cellsweep ui`, opens the two links the sweep printed in headless Chromium (Debian's
``chromium``, driven by Playwright) and saves the parent run's page to docs/study-page.png, and
the trials table to docs/study-trials.png. Nothing else in the checkout changes.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMALL = [
    "task.sim.n_particles=20000",
    "task.sim.n_steps=600",
    "task.pairs.count=20",
    "task.pairs.stride_steps=20",
    "task.val.start_steps=[50,100]",
    "task.val.horizon_steps=200",
    "task.optim.steps_per_epoch=5",
    "task.window_steps=choice(10,20,50,100)",
    "hydra.sweeper.pruner={_target_: optuna.pruners.MedianPruner,"
    " n_startup_trials: 3, n_warmup_steps: 2}",
]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_study(tmp: Path, n_trials: int, epochs: int) -> str:
    """The study's printed output (its links on the last lines)."""
    argv = [
        sys.executable,
        "-m",
        "cellsweep.train",
        "-m",
        "sweep=chemotaxis/window",
        *SMALL,
        f"trainer.max_epochs={epochs}",
        f"hydra.sweeper.n_trials={n_trials}",
        "hydra.sweeper.study_name=chemotaxis-window-demo",
        f"paths.mlruns_dir={tmp / 'mlruns'}",
        f"paths.cache_dir={tmp / 'cache'}",
        f"paths.sweeps_dir={tmp / 'sweeps'}",
        f"hydra.sweep.dir={tmp / 'multirun'}",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp)
    print(proc.stdout[-2000:], proc.stderr[-2000:], sep="\n")
    if proc.returncode != 0:
        raise SystemExit(f"the study failed (exit {proc.returncode})")
    return proc.stdout


def links(out: str, port: int) -> tuple[str, str]:
    """The trials table and the study's page, as the sweep printed them, on ``port``."""
    found = re.findall(r"http://127\.0\.0\.1:5000/(\S+)", out)
    table = next(u for u in found if "viewStateShareKey" in u)
    page = next(u for u in found if "/runs/" in u)
    return f"http://127.0.0.1:{port}/{table}", f"http://127.0.0.1:{port}/{page}"


def serve(tmp: Path, port: int) -> subprocess.Popen:
    cmd = [
        str(Path(sys.executable).parent / "cellsweep"),
        "ui",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{tmp / 'mlruns' / 'mlflow.db'}",
        "--artifacts",
        str(tmp / "mlruns" / "artifacts"),
    ]
    log = (tmp / "ui.log").open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    end = time.time() + 120
    while time.time() < end:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return proc
        except OSError:
            time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGTERM)
    raise SystemExit("cellsweep ui did not answer within 120 s")


def shoot(table: str, page: str, out_dir: Path) -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("needs Debian's chromium (apt-get install chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        view = browser.new_page(viewport={"width": 1400, "height": 900})
        view.goto(table, wait_until="domcontentloaded", timeout=120_000)
        view.get_by_text("#0", exact=False).first.wait_for(timeout=60_000)
        close_assistant(view)
        time.sleep(2)
        view.screenshot(path=str(out_dir / "study-trials.png"))
        view.goto(page, wait_until="domcontentloaded", timeout=120_000)
        view.get_by_text("Best:", exact=False).first.wait_for(timeout=60_000)
        close_assistant(view)
        more = view.get_by_text("Show more", exact=True)
        if more.count():
            more.first.click()
        time.sleep(4)  # the plots in the description load after the text
        view.set_viewport_size({"width": 1400, "height": 1900})  # the page scrolls inside
        time.sleep(2)
        view.screenshot(path=str(out_dir / "study-page.png"))
        browser.close()


def close_assistant(view) -> None:
    """Close MLflow 3.17's assistant side panel (a third of the page): the last button of the
    row that holds its title (refresh, settings, close). It opens a moment after the page, so
    wait for it, and check that it is gone (a click on a fixed spot missed it)."""
    title = view.get_by_text("MLflow Assistant")  # not exact: the title holds an icon too
    try:
        title.first.wait_for(timeout=10_000)
    except Exception:  # not shown (another MLflow version, or closed already)
        return
    row = title.first.locator("xpath=ancestor::*[.//button][1]")
    close = row.get_by_role("button", name="Close")
    if not close.count():
        return
    close.last.click()  # once: the title stays in the page (hidden), so it cannot be the check
    time.sleep(1)
    if close.count() and close.last.is_visible():
        print("warning: the MLflow Assistant panel would not close", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs"))
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cellsweep-shots-") as t:
        tmp = Path(t)
        printed = run_study(tmp, args.trials, args.epochs)
        port = free_port()
        table, page = links(printed, port)
        ui = serve(tmp, port)
        try:
            shoot(table, page, out_dir)
        finally:
            os.killpg(ui.pid, signal.SIGTERM)
            ui.wait(timeout=30)
    for name in ("study-page.png", "study-trials.png"):
        path = out_dir / name
        print(f"{path}: {path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
