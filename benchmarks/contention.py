"""The demo's run on a quiet and on a busy machine, under each torch-thread setting.

`make demo`'s command (`cellsweep-train experiment=chemotaxis/model1`, MLflow on, each run with
an empty simulation cache so the data phase counts too) runs with `trainer.threads` = `auto` (the
shipped default), `1`, and every core, all with the shipped passive OpenMP waiting; a fourth row,
every core with `OMP_WAIT_POLICY=ACTIVE`, is what torch's defaults gave before
(`src/cellsweep/threads.py`). Two conditions: nothing else running, and BUSY processes spinning
on the cores (started WARMUP_S before the first run, so the load average has seen them). The
settings alternate within each repeat (side by side); medians of REPEATS.

Target: `auto` within 1.15× of the best setting's median in both conditions.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).parent))
from common import markdown_table, write_result

REPEATS = 3
BUSY = 4
WARMUP_S = 30
TARGET = 1.15
CORES = os.cpu_count() or 1
SETTINGS = {  # name -> (trainer.threads, OMP_WAIT_POLICY)
    "auto": ("auto", "PASSIVE"),
    "1": ("1", "PASSIVE"),
    f"all ({CORES})": (str(CORES), "PASSIVE"),
    f"all ({CORES}), active wait (before)": (str(CORES), "ACTIVE"),
}


@contextmanager
def busy(n: int) -> Iterator[None]:
    """``n`` processes that spin on the CPU for as long as the block runs."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        if n:
            time.sleep(WARMUP_S)
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def demo_run(workdir: Path, threads: str, wait: str, tag: str) -> float:
    """Wall seconds of one demo run, as `make demo` starts it."""
    exe = Path(sys.executable).parent / "cellsweep-train"
    cmd = [
        str(exe),
        "experiment=chemotaxis/model1",
        f"trainer.threads={threads}",
        "trainer.enable_progress_bar=false",
        f"paths.cache_dir={workdir / 'cache' / tag}",  # empty: the simulation is part of it
        f"paths.mlruns_dir={workdir / 'mlruns'}",
        f"hydra.run.dir={workdir / 'out' / tag}",
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS",)}
    env["OMP_WAIT_POLICY"] = wait
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t


def main() -> None:
    runs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="cellsweep-contention-") as tmp:
        workdir = Path(tmp)
        for n_busy in (0, BUSY):
            with busy(n_busy):
                for r in range(REPEATS):
                    for name, (threads, wait) in SETTINGS.items():
                        tag = f"{n_busy}-{r}-{threads}-{wait}"
                        wall = demo_run(workdir, threads, wait, tag)
                        runs.append({"busy": n_busy, "setting": name, "repeat": r, "wall_s": wall})
                        print(f"busy {n_busy} repeat {r} {name}: {wall:.1f} s", flush=True)
    med = {
        (b, s): median(x["wall_s"] for x in runs if x["busy"] == b and x["setting"] == s)
        for b in (0, BUSY)
        for s in SETTINGS
    }
    targets, rows = [], []
    for b in (0, BUSY):
        best = min(med[(b, s)] for s in SETTINGS)
        ratio = med[(b, "auto")] / best
        targets.append(
            {
                "name": f"auto / best setting, {b} busy processes",
                "value": round(ratio, 3),
                "target": f"<= {TARGET}",
                "met": ratio <= TARGET,
            }
        )
        for s in SETTINGS:
            rows.append([b, s, f"{med[(b, s)]:.1f}", f"{med[(b, s)] / best:.2f}"])
    table = markdown_table(["busy processes", "threads", "median wall s", "× best"], rows)
    summary = "; ".join(
        f"{t['name']}: {t['value']:.2f} (target {t['target']}: {'met' if t['met'] else 'MISSED'})"
        for t in targets
    )
    print(table, "\n", summary, sep="")
    write_result(
        "contention",
        {
            "repeats": REPEATS,
            "busy_processes": BUSY,
            "runs": runs,
            "medians": [{"busy": b, "setting": s, "wall_s": v} for (b, s), v in med.items()],
            "targets": targets,
            "table": table,
            "summary": summary,
        },
    )


if __name__ == "__main__":
    main()
