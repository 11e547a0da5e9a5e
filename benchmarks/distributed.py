"""Distributed studies: trials per minute with 1, 2 and 3 workers on PostgreSQL (storage) and an
MLflow server backed by PostgreSQL, started by `scripts/services.sh` on loopback; and the extra
time per trial of those services over the embedded stores (journal file + SQLite).

Workers are launched independently (as on several hosts), one torch thread each, on one study
of 12 equal-cost chemotaxis trials (architecture and τ pinned, the learning rate searched).
On a 2-core machine the third worker shares a core: the 3-worker row measures contention, not
a third machine.
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
from cellsweep.sweep.study import make_storage

sys.path.insert(0, str(Path(__file__).parent))
from common import markdown_table, write_result

N_TRIALS = 12
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
            rows = [run(1, "bench-embedded-1", workdir, env, distributed=False)]
            rows += [run(n, f"bench-dist-{n}", workdir, env, True) for n in (1, 2, 3)]
        finally:
            subprocess.run(["bash", str(SCRIPT), "stop"], env=senv, capture_output=True)
    emb, one = rows[0], rows[1]
    extra_ms = 1000 * (one["wall_s"] - emb["wall_s"]) / N_TRIALS
    extra_trial_ms = 1000 * (one["median_trial_s"] - emb["median_trial_s"])
    table = markdown_table(
        ["stores", "workers", "trials", "wall s", "trials/min", "median trial s"],
        [
            [
                r["stores"],
                r["workers"],
                r["trials"],
                f"{r['wall_s']:.1f}",
                f"{r['trials_per_min']:.2f}",
                f"{r['median_trial_s']:.2f}",
            ]
            for r in rows
        ],
    )
    speedups = ", ".join(
        f"{r['workers']} workers {r['trials_per_min'] / one['trials_per_min']:.2f}×"
        for r in rows[2:]
    )
    summary = (
        f"PostgreSQL + MLflow server against the embedded stores, 1 worker: {extra_ms:+.0f} ms per "
        f"trial over the whole study ({extra_trial_ms:+.0f} ms in the median trial). Scaling on "
        f"{os.cpu_count()} cores: {speedups} the trials per minute of 1 worker."
    )
    print(table)
    print(summary)
    write_result(
        "distributed",
        {
            "runs": rows,
            "extra_ms_per_trial": extra_ms,
            "extra_ms_median_trial": extra_trial_ms,
            "table": table,
            "summary": summary,
        },
    )


if __name__ == "__main__":
    main()
