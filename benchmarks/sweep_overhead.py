"""Per-trial overhead of a sweeper on a trivial objective: 50 TPE trials, fixed seed.

cellsweep (journal storage, an MLflow parent run and a child run per trial) against the stock
``hydra-optuna-sweeper`` 1.3.0 (in memory, no logging), installed by this script in its own
throwaway venv (benchmarks/.venv-stock, git-ignored). Overhead per trial = (wall time of the
50-trial sweep − wall time of one plain run of the same app) / 50, so interpreter start-up and
imports are not counted; runs are interleaved and repeated, medians reported.
Target: ratio cellsweep / stock ≤ 1.0.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import HERE, markdown_table, write_result

N_TRIALS = 50
REPEATS = 2
APP = HERE / "sweep_app" / "app.py"
STOCK_VENV = HERE / ".venv-stock"


def stock_python() -> str:
    py = STOCK_VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(STOCK_VENV)], check=True)
        # hydra-core pinned: the plugin allows pre-releases, and 1.4.0rc breaks its sampler
        subprocess.run(
            [
                str(py),
                "-m",
                "pip",
                "install",
                "-q",
                "hydra-optuna-sweeper==1.3.0",
                "hydra-core==1.3.2",
                "omegaconf==2.3.0",
                "numpy<2",
            ],
            check=True,
        )
    return str(py)


def timed(cmd: list[str], env: dict) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - t


def measure(python: str, config: str) -> dict:
    sweeps, singles = [], []
    for _ in range(REPEATS):
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "BENCH_DIR": tmp, "HYDRA_FULL_ERROR": "1"}
            base = [
                python,
                str(APP),
                f"--config-name={config}",
                f"hydra.run.dir={tmp}/run",
                f"hydra.sweep.dir={tmp}/multirun",
            ]
            singles.append(timed(base, env))
            sweeps.append(timed([*base, "-m"], env))
            shutil.rmtree(tmp, ignore_errors=True)
    sweep, single = statistics.median(sweeps), statistics.median(singles)
    return {
        "config": config,
        "sweep_s": sweep,
        "single_run_s": single,
        "per_trial_ms": 1000 * (sweep - single) / N_TRIALS,
        "sweeps_s": sweeps,
        "singles_s": singles,
    }


def main() -> dict:
    stock = measure(stock_python(), "stock")
    ours = measure(sys.executable, "cellsweep")
    ratio = ours["per_trial_ms"] / stock["per_trial_ms"]
    table = markdown_table(
        ["sweeper", "stores", "50-trial sweep s", "plain run s", "overhead ms/trial"],
        [
            [
                "hydra-optuna-sweeper 1.3.0",
                "in memory, no logging",
                f"{stock['sweep_s']:.1f}",
                f"{stock['single_run_s']:.1f}",
                f"{stock['per_trial_ms']:.0f}",
            ],
            [
                "cellsweep",
                "journal file + MLflow parent/child runs",
                f"{ours['sweep_s']:.1f}",
                f"{ours['single_run_s']:.1f}",
                f"{ours['per_trial_ms']:.0f}",
            ],
        ],
    )
    summary = f"ratio cellsweep / stock per trial: {ratio:.2f} (target ≤ 1.0)"
    print(table)
    print(summary)
    write_result(
        "sweep_overhead",
        {
            "stock": stock,
            "cellsweep": ours,
            "ratio": ratio,
            "n_trials": N_TRIALS,
            "table": table,
            "summary": summary,
        },
    )
    return {"table": table}


if __name__ == "__main__":
    main()
