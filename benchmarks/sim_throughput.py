"""How fast do the simulators run, next to the cost of the random numbers they must draw?

For each model and N in {10^5, 10^6}: particle-steps per second of ``simulate`` (histograms
included), and, in the same run and interleaved with it, the time to draw the same count of the
random numbers that model draws, with torch, into a preallocated buffer, once per step: normals
for Model I (``torch.randn``), uniforms for Models II and III (``Tensor.uniform_``, which is
cheaper: measuring them against normals, as this benchmark did until 2026-12-01, flattered
them). That is the floor no simulator drawing one number per particle-step can beat. Both run
on the torch threads the product gives a simulation (``trainer.threads=auto``: one). Target:
``ratio_to_rng_floor`` ≤ 2.
"""

from __future__ import annotations

import statistics
import sys
import time

import torch

from cellsweep.tasks.chemotaxis.simulate import SimConfig, simulate
from cellsweep.threads import data_threads

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
from common import markdown_table, write_result

TARGET = 2.0
REPEATS = 3
PARTICLE_STEPS = 1.5e8  # per measurement


RNG_KIND = {1: "normal", 2: "uniform", 3: "uniform"}  # what each model's step draws


def rng_floor(n: int, steps: int, kind: str = "normal") -> float:
    """Seconds to draw ``steps`` batches of ``n`` numbers of ``kind`` into one buffer."""
    buf = torch.empty(n)
    gen = torch.Generator().manual_seed(0)
    t = time.perf_counter()
    for _ in range(steps):
        if kind == "normal":
            torch.randn(n, generator=gen, out=buf)
        else:
            buf.uniform_(generator=gen)
    return time.perf_counter() - t


def sim_time(model: int, n: int, steps: int) -> float:
    cfg = SimConfig(model=model, n_particles=n, n_steps=steps, record_every=10)
    t = time.perf_counter()
    simulate(cfg, seed=1)
    return time.perf_counter() - t


def main() -> dict:
    torch.set_num_threads(data_threads("auto"))  # as a run simulates
    rows, results = [], []
    for n in (10**5, 10**6):
        steps = max(20, int(PARTICLE_STEPS / n) // 10 * 10)
        for model in (1, 2, 3):
            sim_time(model, n, 10)  # warm-up
            sims, floors = [], []
            for _ in range(REPEATS):  # interleaved, so both see the same machine load
                sims.append(sim_time(model, n, steps))
                floors.append(rng_floor(n, steps, RNG_KIND[model]))
            t_sim, t_rng = statistics.median(sims), statistics.median(floors)
            res = {
                "model": model,
                "n_particles": n,
                "steps": steps,
                "particle_steps_per_s": n * steps / t_sim,
                "rng_normals_per_s": n * steps / t_rng,  # (the model's own draws; key kept)
                "rng_kind": RNG_KIND[model],
                "ratio_to_rng_floor": t_sim / t_rng,
                "target_ratio": TARGET,
            }
            results.append(res)
            rows.append(
                [
                    model,
                    f"{n:.0e}",
                    f"{res['particle_steps_per_s']:.3g}",
                    f"{res['rng_normals_per_s']:.3g} ({RNG_KIND[model]})",
                    f"{res['ratio_to_rng_floor']:.2f}",
                    f"≤ {TARGET}",
                ]
            )
    table = markdown_table(
        ["model", "N", "particle-steps/s", "draws/s (floor)", "ratio to floor", "target"], rows
    )
    print(table)
    write_result(
        "sim_throughput",
        {
            "results": results,
            "targets": [
                {
                    "name": f"Model {r['model']}, N = {r['n_particles']:.0e}: sim / RNG floor",
                    "value": round(r["ratio_to_rng_floor"], 3),
                    "target": f"<= {TARGET}",
                    "met": r["ratio_to_rng_floor"] <= TARGET,
                }
                for r in results
            ],
            "table": table,
            "repeats": REPEATS,
            "threads": torch.get_num_threads(),
        },
    )
    return {"table": table}


if __name__ == "__main__":
    main()
