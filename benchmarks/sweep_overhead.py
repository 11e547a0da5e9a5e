"""Per-trial overhead of a sweeper on a trivial objective: 50 TPE trials, fixed seed.

cellsweep (journal storage, an MLflow parent run and a child run per trial, all defaults of the
sweeper: the app is a plain Hydra app that returns a float) against the stock
``hydra-optuna-sweeper`` 1.3.0 (in memory, no logging), installed by this script in its own
throwaway venv (benchmarks/.venv-stock, git-ignored). Two measures, both reported: the overhead
amortized over the study, (wall time of the 50-trial sweep − one plain run of the same app) / 50,
which includes one-off costs (creating the MLflow database, the final plots); and the marginal
cost of a trial, (50-trial sweep − 25-trial sweep) / 25, in which they cancel. Runs are
interleaved and repeated, medians reported.
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


def timed(cmd: list[str], env: dict, cwd: str) -> float:
    t = time.perf_counter()
    subprocess.run(
        cmd, check=True, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    return time.perf_counter() - t


def measure(python: str, config: str) -> dict:
    """Sweeps of 25 and 50 trials and one plain run, interleaved, ``REPEATS`` times."""
    times: dict[str, list[float]] = {"single": [], "half": [], "full": []}
    for _ in range(REPEATS):
        for key, n in (("single", 0), ("half", N_TRIALS // 2), ("full", N_TRIALS)):
            with tempfile.TemporaryDirectory() as tmp:
                env = {**os.environ, "HYDRA_FULL_ERROR": "1"}
                cmd = [
                    python,
                    str(APP),
                    f"--config-name={config}",
                    f"hydra.run.dir={tmp}/run",
                    f"hydra.sweep.dir={tmp}/multirun",
                ]
                if n:
                    cmd += [f"hydra.sweeper.n_trials={n}", "-m"]
                times[key].append(timed(cmd, env, cwd=tmp))  # the app's stores land in tmp
                shutil.rmtree(tmp, ignore_errors=True)
    single, half, full = (statistics.median(times[k]) for k in ("single", "half", "full"))
    return {
        "config": config,
        "sweep_s": full,
        "sweep_half_s": half,
        "single_run_s": single,
        # everything a 50-trial study costs beyond one plain run, spread over its trials
        "per_trial_ms": 1000 * (full - single) / N_TRIALS,
        # the cost of one more trial: fixed costs (study setup, final plots) cancel out
        "marginal_ms": 1000 * (full - half) / (N_TRIALS - N_TRIALS // 2),
        "runs_s": times,
    }


def main() -> dict:
    stock = measure(stock_python(), "stock")
    ours = measure(sys.executable, "cellsweep")
    ratio = ours["per_trial_ms"] / stock["per_trial_ms"]
    marginal = ours["marginal_ms"] / stock["marginal_ms"]
    table = markdown_table(
        [
            "sweeper",
            "stores",
            "50-trial sweep s",
            "plain run s",
            "overhead ms/trial (50)",
            "marginal ms/trial (25→50)",
        ],
        [
            [
                "hydra-optuna-sweeper 1.3.0",
                "in memory, no logging",
                f"{stock['sweep_s']:.1f}",
                f"{stock['single_run_s']:.1f}",
                f"{stock['per_trial_ms']:.0f}",
                f"{stock['marginal_ms']:.0f}",
            ],
            [
                "cellsweep",
                "journal file + MLflow parent/child runs",
                f"{ours['sweep_s']:.1f}",
                f"{ours['single_run_s']:.1f}",
                f"{ours['per_trial_ms']:.0f}",
                f"{ours['marginal_ms']:.0f}",
            ],
        ],
    )
    summary = (
        f"ratio cellsweep / stock: {ratio:.2f} amortized over the 50-trial study, "
        f"{marginal:.2f} per additional trial (target ≤ 1.0)"
    )
    print(table)
    print(summary)
    write_result(
        "sweep_overhead",
        {
            "stock": stock,
            "cellsweep": ours,
            "ratio": ratio,
            "ratio_marginal": marginal,
            "n_trials": N_TRIALS,
            "table": table,
            "summary": summary,
        },
    )
    return {"table": table}


if __name__ == "__main__":
    main()
