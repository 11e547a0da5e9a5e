"""Distributed studies: trials per minute with 1, 2 and 3 workers on PostgreSQL (storage) and an
MLflow server backed by PostgreSQL, started by `scripts/services.sh` on loopback; and the extra
time per trial of those services over the embedded stores (journal file + SQLite).

Workers are launched independently (as on several hosts), one torch thread each, on one study
of 12 equal-cost chemotaxis trials (architecture and τ pinned, the learning rate searched).
On a 2-core machine the third worker shares a core: the 3-worker row measures contention, not
a third machine. The four runs go round REPEATS times; each ratio is taken within one round
(side by side) and the table gives medians, because this shared machine's speed drifts.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

from cellsweep.paths import project_root
from cellsweep.sweep.study.storage import make_storage

sys.path.insert(0, str(Path(__file__).parent))
from common import markdown_table, write_result

N_TRIALS = 12
REPEATS = 3
SCRIPT = project_root() / "scripts" / "services.sh"
PINNED = [
    "task.sim.n_particles=20000",
    "task.sim.n_steps=600",
    "task.pairs.count=20",
    "task.pairs.stride_steps=20",
    "task.val.start_steps=[50,100]",
    "task.val.horizon_steps=200",
    "task.window_steps=100",
    "task.loss.order=2",
    "model.depth=3",
    "model.width=32",
    "model.activation=tanh",
    "trainer.max_epochs=40",
    "trainer.enable_progress_bar=false",
    "hydra.sweeper.pruner=none",
    "hydra.sweeper.threads_per_worker=1",
    "seed=0",
]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(n_workers: int, name: str, workdir: Path, env: dict, distributed: bool) -> dict:
    argv = [
        sys.executable,
        "-m",
        "cellsweep.train",
        "-m",
        "sweep=chemotaxis/window",
        f"hydra.sweeper.n_trials={N_TRIALS}",
        f"hydra.sweeper.study_name={name}",
        f"paths.cache_dir={project_root() / '.cache' / 'bench'}",
        f"paths.sweeps_dir={workdir / 'sweeps'}",
        f"paths.mlruns_dir={workdir / 'mlruns'}",
        *PINNED,
        *(["storage=postgres", "tracking=server"] if distributed else []),
    ]
    t = time.time()
    procs = [
        subprocess.Popen(
            [*argv, f"hydra.sweep.dir={workdir / name / str(i)}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(n_workers)
    ]
    for p in procs:
        _, err = p.communicate(timeout=1800)
        if p.returncode:
            raise SystemExit(f"worker failed: {err.strip().splitlines()[-1:]}")
    wall = time.time() - t
    url = env["CELLSWEEP_OPTUNA_STORAGE"] if distributed else None
    storage = make_storage(url, workdir / "sweeps" / "optuna.journal")
    study = optuna.load_study(study_name=name, storage=storage)
    done = [t for t in study.trials if t.datetime_complete is not None]
    durations = [(t.datetime_complete - t.datetime_start).total_seconds() for t in done]
    return {
        "name": name,
        "workers": n_workers,
        "stores": "PostgreSQL + MLflow server" if distributed else "journal + SQLite",
        "trials": len(done),
        "wall_s": wall,
        "trials_per_min": 60 * len(done) / wall,
        "median_trial_s": statistics.median(durations),
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="cellsweep-dist-") as tmp:
        workdir = Path(tmp)
        os.chmod(workdir, 0o755)
        senv = {
            **os.environ,
            "CELLSWEEP_SERVICES_DIR": str(workdir / "services"),
            "CELLSWEEP_PG_PORT": str(_port()),
            "CELLSWEEP_MLFLOW_PORT": str(_port()),
        }
        out = subprocess.run(
            ["bash", str(SCRIPT), "start"], env=senv, capture_output=True, text=True, check=True
        )
        exports = dict(
            ln.removeprefix("export ").split("=", 1) for ln in out.stdout.splitlines() if ln
        )
        env = {**os.environ, **exports, "OMP_NUM_THREADS": "1"}
        try:
            rounds = [
                [run(1, f"bench-embedded-1-{r}", workdir, env, distributed=False)]
                + [run(n, f"bench-dist-{n}-{r}", workdir, env, True) for n in (1, 2, 3)]
                for r in range(REPEATS)
            ]
        finally:
            subprocess.run(["bash", str(SCRIPT), "stop"], env=senv, capture_output=True)
    med = statistics.median
    # per round: the services' extra time per trial, and each worker count's speed-up over 1
    extra_ms = med([1000 * (r[1]["wall_s"] - r[0]["wall_s"]) / N_TRIALS for r in rounds])
    extra_trial_ms = med([1000 * (r[1]["median_trial_s"] - r[0]["median_trial_s"]) for r in rounds])
    speedup = {i: [r[i]["trials_per_min"] / r[1]["trials_per_min"] for r in rounds] for i in (2, 3)}
    rows = [
        {
            "stores": rounds[0][i]["stores"],
            "workers": rounds[0][i]["workers"],
            **{
                k: med([r[i][k] for r in rounds])
                for k in ("trials", "wall_s", "trials_per_min", "median_trial_s")
            },
        }
        for i in range(4)
    ]
    table = markdown_table(
        ["stores", "workers", "trials", "wall s", "trials/min", "median trial s", "× 1 worker"],
        [
            [
                r["stores"],
                r["workers"],
                r["trials"],
                f"{r['wall_s']:.1f}",
                f"{r['trials_per_min']:.2f}",
                f"{r['median_trial_s']:.2f}",
                ", ".join(f"{x:.2f}" for x in speedup[i]) if i in speedup else "",
            ]
            for i, r in enumerate(rows)
        ],
    )
    speedups = ", ".join(
        f"{rows[i]['workers']} workers {med(speedup[i]):.2f}×" for i in sorted(speedup)
    )
    summary = (
        f"Medians of {REPEATS} rounds. PostgreSQL + MLflow server against the embedded stores, "
        f"1 worker: {extra_ms:+.0f} ms per trial over the whole study ({extra_trial_ms:+.0f} ms "
        f"in the median trial). Scaling on {os.cpu_count()} cores: {speedups} the trials per "
        "minute of 1 worker."
    )
    print(table)
    print(summary)
    write_result(
        "distributed",
        {
            "runs": [x for r in rounds for x in r],
            "medians": rows,
            "repeats": REPEATS,
            "speedups_per_round": {str(rows[i]["workers"]): v for i, v in speedup.items()},
            "extra_ms_per_trial": extra_ms,
            "extra_ms_median_trial": extra_trial_ms,
            "table": table,
            "summary": summary,
        },
    )


if __name__ == "__main__":
    main()
