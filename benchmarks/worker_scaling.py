"""Trial throughput with 1 and 2 asynchronous workers on this machine's cores, CPU-bound trials.

The same `sweep=chemotaxis/window` study (12 trials, the architecture and τ pinned so every trial
costs the same, the learning rate searched) runs once with `n_workers=1` and once with
`n_workers=2`; each worker gets cores / n_workers torch threads (`threads_per_worker=0`). The
simulation is cached by a warm-up run first, so trials are training only. MLflow logging stays on.

Target: 2 workers give ≥ 1.7× the trials per minute of 1 worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

from cellsweep.paths import project_root
from cellsweep.sweep.study import make_storage

sys.path.insert(0, str(Path(__file__).parent))
from common import markdown_table, write_result

N_TRIALS = 12
TARGET = 1.7
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


def run_study(n_workers: int, workdir: Path, epochs: int) -> dict:
    name = f"bench-workers-{n_workers}-{epochs}"
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
        rows = [run_study(n, workdir, e) for e in EPOCHS for n in (1, 2)]
    ratios = {}
    for e in EPOCHS:
        one, two = (r for r in rows if r["epochs"] == e)
        ratios[e] = (
            two["trials_per_min"] / one["trials_per_min"],
            two["steady_trials_per_min"] / one["steady_trials_per_min"],
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
            ]
            for r in rows
        ],
    )
    parts = [
        f"{e} epochs per trial: {r:.2f}× over the whole command ({s:.2f}× from the first "
        "trial's start to the last one's end)"
        for e, (r, s) in ratios.items()
    ]
    summary = (
        f"2 workers / 1 worker on {os.cpu_count()} cores: " + "; ".join(parts) + ". Target ≥ "
        f"{TARGET}× (CPU-bound trials, {EPOCHS[-1]} epochs): "
        f"{'met' if ratio >= TARGET else 'NOT met'}."
    )
    print(table)
    print(summary)
    write_result(
        "worker_scaling",
        {
            "runs": rows,
            "ratio": ratio,
            "steady_ratio": steady,
            "target": TARGET,
            "table": table,
            "summary": summary,
        },
    )


if __name__ == "__main__":
    main()
