"""Trial throughput with 1 and 2 asynchronous workers on this machine's cores, CPU-bound trials.

The same `sweep=chemotaxis/window` study (12 trials, the architecture and τ pinned so every trial
costs the same, the learning rate searched) runs with `n_workers=1` and with `n_workers=2`; each
worker may use cores / n_workers torch threads (`threads_per_worker=0`), and a trial of this
small model takes one of them (`trainer.threads=auto`). The simulation is cached
by a warm-up run first, so trials are training only. MLflow logging stays on. The two runs
alternate, REPEATS times over: each ratio is taken within one 1-worker/2-worker pair (side by
side), and the table reports medians, because this shared machine's speed drifts by tens of
percent between minutes (single runs gave 1.81× and 1.41× within an hour).

Targets (issue 14): 2 workers give ≥ 1.7× the trials per minute of 1 worker with 150-epoch
trials and ≥ 1.4× with 30-epoch trials, over the whole command.

``--plain`` (issue 25): the plain Hydra app of benchmarks/sweep_app (no torch, no Lightning), 20
trials that each sleep 0.5 s, ``n_jobs`` 1 and 2, REPEATS side-by-side pairs, written to
worker_scaling_plain.json. Target: 2 workers finish the command sooner than 1. Before a spawned
worker warmed up before its first ask, its first trial took 3.5 s against 0.6 s for the others.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import optuna

from cellsweep.paths import project_root
from cellsweep.sweep.study.storage import make_storage

sys.path.insert(0, str(Path(__file__).parent))
from common import markdown_table, write_result

N_TRIALS = 12
TARGETS = {30: 1.4, 150: 1.7}  # epochs per trial -> 2-worker / 1-worker trials per minute
REPEATS = 3
PINNED = [
    "task.window_steps=100",
    "task.loss.order=2",
    "model.depth=3",
    "model.width=32",
    "model.activation=tanh",
    "trainer.enable_progress_bar=false",
    "seed=0",
]


def base(workdir: Path) -> list[str]:
    return [
        f"paths.cache_dir={project_root() / '.cache' / 'bench'}",
        f"paths.mlruns_dir={workdir / 'mlruns'}",
        f"paths.sweeps_dir={workdir}",
    ]


EPOCHS = (30, 150)  # ~3.5 s and ~15 s trials: overhead-heavy and compute-heavy
TARGET = TARGETS[EPOCHS[-1]]  # the headline target (compute-heavy trials)


def run_study(n_workers: int, workdir: Path, epochs: int, repeat: int) -> dict:
    name = f"bench-workers-{n_workers}-{epochs}-{repeat}"
    cmd = [
        sys.executable,
        "-m",
        "cellsweep.train",
        "-m",
        "sweep=chemotaxis/window",
        f"hydra.sweeper.n_trials={N_TRIALS}",
        f"hydra.sweeper.n_workers={n_workers}",
        "hydra.sweeper.pruner=none",
        f"hydra.sweeper.study_name={name}",
        f"hydra.sweep.dir={workdir / name}",
        *PINNED,
        f"trainer.max_epochs={epochs}",
        *base(workdir),
    ]
    t = time.time()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.time() - t
    study = optuna.load_study(
        study_name=name, storage=make_storage(None, workdir / "optuna.journal")
    )
    done = [tr for tr in study.trials if tr.datetime_complete is not None]
    first = min(tr.datetime_start for tr in done)
    last = max(tr.datetime_complete for tr in done)
    busy = (last - first).total_seconds()
    per_trial = [(tr.datetime_complete - tr.datetime_start).total_seconds() for tr in done]
    return {
        "epochs": epochs,
        "n_workers": n_workers,
        "repeat": repeat,
        "trials": len(done),
        "wall_s": wall,
        "trials_per_min": 60 * len(done) / wall,
        "steady_s": busy,
        "steady_trials_per_min": 60 * len(done) / busy,
        "median_trial_s": sorted(per_trial)[len(per_trial) // 2],
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="cellsweep-workers-") as tmp:
        workdir = Path(tmp)
        warm = [sys.executable, "-m", "cellsweep.train", "tracking=none", *PINNED, *base(workdir)]
        warm.append("trainer.max_epochs=1")
        warm.append(f"hydra.run.dir={workdir / 'warm'}")
        subprocess.run(warm, check=True, stdout=subprocess.DEVNULL)  # cache the simulation
        rows = [run_study(n, workdir, e, r) for e in EPOCHS for r in range(REPEATS) for n in (1, 2)]
    ratios, per_pair, medians = {}, {}, []
    for e in EPOCHS:
        pairs = [[x for x in rows if x["epochs"] == e and x["repeat"] == r] for r in range(REPEATS)]
        per_pair[e] = [two["trials_per_min"] / one["trials_per_min"] for one, two in pairs]
        steady_pairs = [
            two["steady_trials_per_min"] / one["steady_trials_per_min"] for one, two in pairs
        ]
        ratios[e] = (median(per_pair[e]), median(steady_pairs))
        for n in (1, 2):
            mine = [x for x in rows if x["epochs"] == e and x["n_workers"] == n]
            keys = ("trials", "wall_s", "trials_per_min", "steady_trials_per_min", "median_trial_s")
            medians.append(
                {"epochs": e, "n_workers": n} | {k: median([x[k] for x in mine]) for k in keys}
            )
    ratio, steady = ratios[EPOCHS[-1]]
    table = markdown_table(
        [
            "epochs/trial",
            "workers",
            "trials",
            "wall s",
            "trials/min",
            "trials/min (first start → last end)",
            "median trial s",
            "2/1 ratio in each pair",
        ],
        [
            [
                r["epochs"],
                r["n_workers"],
                r["trials"],
                f"{r['wall_s']:.1f}",
                f"{r['trials_per_min']:.2f}",
                f"{r['steady_trials_per_min']:.2f}",
                f"{r['median_trial_s']:.1f}",
                ", ".join(f"{x:.2f}" for x in per_pair[r["epochs"]]) if r["n_workers"] == 2 else "",
            ]
            for r in medians
        ],
    )
    parts = [
        f"{e} epochs per trial: {r:.2f}× over the whole command ({s:.2f}× from the first "
        "trial's start to the last one's end)"
        for e, (r, s) in ratios.items()
    ]
    summary = (
        f"2 workers / 1 worker on {os.cpu_count()} cores, medians of {REPEATS} side-by-side "
        "pairs: " + "; ".join(parts) + ". Target ≥ "
        f"{TARGET}× (CPU-bound trials, {EPOCHS[-1]} epochs): "
        f"{'met' if ratio >= TARGET else 'NOT met'}."
    )
    print(table)
    print(summary)
    write_result(
        "worker_scaling",
        {
            "runs": rows,
            "medians": medians,
            "ratios_per_pair": {str(e): v for e, v in per_pair.items()},
            "repeats": REPEATS,
            "ratio": ratio,
            "steady_ratio": steady,
            "target": TARGET,
            "targets": [
                {
                    "name": f"{e}-epoch trials: 2 workers / 1, whole command",
                    "value": round(ratios[e][0], 3),
                    "target": f">= {TARGETS[e]}",
                    "met": ratios[e][0] >= TARGETS[e],
                }
                for e in EPOCHS
            ],
            "table": table,
            "summary": summary,
        },
    )


PLAIN_APP = Path(__file__).parent / "sweep_app" / "app.py"
PLAIN_TRIALS, PLAIN_COST_S = 20, 0.5


def plain_study(n_jobs: int, workdir: Path, repeat: int) -> dict:
    """The plain app's sweep as a user runs it, from its own folder; the whole command timed."""
    folder = workdir / f"plain-{n_jobs}-{repeat}"
    folder.mkdir()
    cmd = [
        sys.executable,
        str(PLAIN_APP),
        "--config-name",
        "cellsweep",
        "-m",
        f"hydra.sweeper.n_trials={PLAIN_TRIALS}",
        f"hydra.sweeper.n_jobs={n_jobs}",
        f"hydra.sweeper.storage={folder / 'optuna.journal'}",
        f"+cost_s={PLAIN_COST_S}",
    ]
    t = time.time()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=folder)
    wall = time.time() - t
    study = optuna.load_study(
        study_name="overhead", storage=make_storage(str(folder / "optuna.journal"), folder)
    )
    by_worker: dict[str, list] = {}
    for tr in study.trials:
        by_worker.setdefault(tr.user_attrs.get("worker", "?"), []).append(tr)
    firsts = [min(ts, key=lambda tr: tr.number) for ts in by_worker.values()]
    first_trial_s = max((tr.datetime_complete - tr.datetime_start).total_seconds() for tr in firsts)
    return {
        "n_jobs": n_jobs,
        "repeat": repeat,
        "wall_s": wall,
        "trials_per_process": sorted(len(ts) for ts in by_worker.values()),
        "slowest_first_trial_s": first_trial_s,
    }


def plain() -> None:
    with tempfile.TemporaryDirectory(prefix="cellsweep-workers-plain-") as tmp:
        rows = [plain_study(n, Path(tmp), r) for r in range(REPEATS) for n in (1, 2)]
    pairs = [[x for x in rows if x["repeat"] == r] for r in range(REPEATS)]
    per_pair = [two["wall_s"] / one["wall_s"] for one, two in pairs]
    ratio = median(per_pair)
    table = markdown_table(
        ["n_jobs", "wall s (median)", "trials per process", "slowest first trial s (median)"],
        [
            [
                n,
                f"{median(x['wall_s'] for x in rows if x['n_jobs'] == n):.1f}",
                " / ".join(str(x["trials_per_process"]) for x in rows if x["n_jobs"] == n),
                f"{median(x['slowest_first_trial_s'] for x in rows if x['n_jobs'] == n):.2f}",
            ]
            for n in (1, 2)
        ],
    )
    summary = (
        f"plain app, {PLAIN_TRIALS} trials of {PLAIN_COST_S} s: 2 workers take {ratio:.2f}× the "
        f"wall time of 1 (median of {REPEATS} pairs: "
        + ", ".join(f"{x:.2f}" for x in per_pair)
        + f"). Target < 1: {'met' if ratio < 1 else 'NOT met'}."
    )
    print(table)
    print(summary)
    write_result(
        "worker_scaling_plain",
        {
            "runs": rows,
            "ratios_per_pair": per_pair,
            "targets": [
                {
                    "name": "plain app: 2 workers' wall time / 1 worker's",
                    "value": round(ratio, 3),
                    "target": "< 1",
                    "met": ratio < 1,
                }
            ],
            "table": table,
            "summary": summary,
        },
    )


if __name__ == "__main__":
    plain() if "--plain" in sys.argv[1:] else main()
