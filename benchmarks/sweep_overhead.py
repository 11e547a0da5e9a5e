"""Per-trial overhead of a sweeper on a trivial objective: 50 TPE trials, fixed seed.

cellsweep (journal storage, an MLflow parent run and a child run per trial, all defaults of the
sweeper: the app is a plain Hydra app that returns a float) against the stock
``hydra-optuna-sweeper`` 1.3.0 (in memory, no logging), installed by this script in its own
throwaway venv (benchmarks/.venv-stock, git-ignored). Two measures, both reported: the overhead
amortized over the study, (wall time of the 50-trial sweep − one plain run of the same app) / 50,
which includes one-off costs (opening the MLflow database, the final plots); and the marginal
cost of a trial, (50-trial sweep − 25-trial sweep) / 25, in which they cancel. The two
sweepers alternate round by round (REPEATS rounds); each ratio is taken within a round and the
median reported. The rounds reuse the tracking schema cellsweep caches per machine; one more
sweep without it shows a machine's first study.
Targets (issue 14): ≤ 1.0× per additional trial, ≤ 1.2× amortized over 50 trials.
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
from common import HERE, markdown_table, throwaway_venv, write_result

N_TRIALS = 50
REPEATS = 3
APP = HERE / "sweep_app" / "app.py"


# hydra-core pinned: the plugin allows pre-releases, and 1.4.0rc breaks its sampler
STOCK_PACKAGES = ["hydra-optuna-sweeper==1.3.0", "hydra-core==1.3.2", "omegaconf==2.3.0", "numpy<2"]


def stock_python() -> str:
    return str(throwaway_venv("stock", STOCK_PACKAGES))


def timed(cmd: list[str], env: dict, cwd: str) -> float:
    t = time.perf_counter()
    subprocess.run(
        cmd, check=True, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    return time.perf_counter() - t


def run_app(python: str, config: str, n_trials: int) -> float:
    """Wall seconds of the app in a fresh folder (where its stores land): a plain run when
    ``n_trials`` is 0, else a sweep of that many trials."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            python,
            str(APP),
            f"--config-name={config}",
            f"hydra.run.dir={tmp}/run",
            f"hydra.sweep.dir={tmp}/multirun",
        ]
        if n_trials:
            cmd += [f"hydra.sweeper.n_trials={n_trials}", "-m"]
        seconds = timed(cmd, {**os.environ, "HYDRA_FULL_ERROR": "1"}, cwd=tmp)
        shutil.rmtree(tmp, ignore_errors=True)
        return seconds


def one_round(python: str, config: str, times: dict[str, list[float]]) -> None:
    """One plain run and sweeps of 25 and 50 trials, each in a fresh folder."""
    for key, n in (("single", 0), ("half", N_TRIALS // 2), ("full", N_TRIALS)):
        times[key].append(run_app(python, config, n))


def cold_sweep() -> float:
    """One 50-trial cellsweep sweep with no cached tracking schema, as on a machine's first
    study: MLflow's migrations run once more (and the template is built again)."""
    from cellsweep.tracking.sqlite_seed import template_path

    template_path().unlink(missing_ok=True)
    return run_app(sys.executable, "cellsweep", N_TRIALS)


def summarize(config: str, times: dict[str, list[float]]) -> dict:
    """Medians over the rounds, and the two per-trial costs."""
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


def per_round_ratios(stock: dict, ours: dict) -> tuple[list[float], list[float]]:
    """Each round's amortized and marginal ratio, cellsweep / stock (side by side)."""
    amort, marg = [], []
    for i in range(REPEATS):
        s, o = ({k: v[i] for k, v in d["runs_s"].items()} for d in (stock, ours))
        amort.append((o["full"] - o["single"]) / (s["full"] - s["single"]))
        marg.append((o["full"] - o["half"]) / (s["full"] - s["half"]))
    return amort, marg


def main() -> dict:
    stock_py = stock_python()
    times: dict[str, dict[str, list[float]]] = {
        c: {"single": [], "half": [], "full": []} for c in ("stock", "cellsweep")
    }
    for _ in range(REPEATS):  # the two sweepers alternate: side by side on a drifting machine
        one_round(stock_py, "stock", times["stock"])
        one_round(sys.executable, "cellsweep", times["cellsweep"])
    cold_s = cold_sweep()
    stock, ours = summarize("stock", times["stock"]), summarize("cellsweep", times["cellsweep"])
    amort, marg = per_round_ratios(stock, ours)
    ratio, marginal = statistics.median(amort), statistics.median(marg)
    cold_ms = 1000 * (cold_s - ours["single_run_s"]) / N_TRIALS
    cold_ratio = cold_ms / stock["per_trial_ms"]
    targets = [
        {
            "name": "per additional trial, cellsweep / stock",
            "value": round(marginal, 3),
            "target": "<= 1.0",
            "met": marginal <= 1.0,
        },
        {
            "name": f"amortized over {N_TRIALS} trials, cellsweep / stock",
            "value": round(ratio, 3),
            "target": "<= 1.2",
            "met": ratio <= 1.2,
        },
    ]
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
            [
                "cellsweep, first study on the machine",
                "the same, the tracking schema built by migrations",
                f"{cold_s:.1f}",
                f"{ours['single_run_s']:.1f}",
                f"{cold_ms:.0f}",
                "",
            ],
        ],
    )
    summary = (
        f"ratio cellsweep / stock, median of {REPEATS} side-by-side rounds: {ratio:.2f} "
        f"amortized over the 50-trial study (rounds {', '.join(f'{r:.2f}' for r in amort)}; "
        f"target ≤ 1.2), {marginal:.2f} per additional trial "
        f"(rounds {', '.join(f'{r:.2f}' for r in marg)}; target ≤ 1.0). A machine's first "
        f"study, which builds the cached tracking schema: {cold_ratio:.2f} amortized (one run, "
        "against the stock medians)"
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
            "cold_sweep_s": cold_s,
            "ratio_cold": cold_ratio,
            "ratios_per_round": {"amortized": amort, "marginal": marg},
            "targets": targets,
            "n_trials": N_TRIALS,
            "table": table,
            "summary": summary,
        },
    )
    return {"table": table}


if __name__ == "__main__":
    main()
