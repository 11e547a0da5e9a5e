"""The paper's headline: the window τ trades noise against bias (Model I, known S).

Final ``val/S_rel_err`` for τ ∈ {10, 100, 1000}·Δt × loss order {1, 2} (L1 forward, L2
trapezoid) over 3 seeds, median per cell, through the same code path as ``cellsweep-train``
(tracking off). Two data settings: every snapshot pair (one each 10·Δt over t ∈ [0, 0.3], the
task default) and only 5 pairs (one each 600·Δt), where SCIENCE-chemotaxis.md saw the noise of
short windows. Expected shape: with L2, τ = 100·Δt beats 10·Δt and 1000·Δt; L2 beats L1 at
1000·Δt. Nothing here is tuned toward that shape: the configs are the task defaults.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from cellsweep.paths import config_dir, project_root
from cellsweep.train import train

sys.path.insert(0, str(Path(__file__).parent))
from common import markdown_table, write_result

WINDOWS = (10, 100, 1000)
ORDERS = (1, 2)
SEEDS = (0, 1, 2)
SETTINGS = {
    "all_pairs": [],
    "5_pairs": ["task.pairs.count=5", "task.pairs.stride_steps=600"],
}


def fit(overrides: list[str]) -> dict[str, float]:
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    return train(cfg)


def main() -> dict:
    cache = project_root() / ".cache" / "bench"
    results: dict = {}
    t0 = time.time()
    for setting, extra in SETTINGS.items():
        results[setting] = {}
        for order in ORDERS:
            for w in WINDOWS:
                errs, preds = [], []
                for seed in SEEDS:
                    m = fit(
                        [
                            "experiment=chemotaxis/model1",
                            "tracking=none",
                            f"seed={seed}",
                            f"task.window_steps={w}",
                            f"task.loss.order={order}",
                            f"paths.cache_dir={cache}",
                            "paths.output_dir=/tmp/cellsweep-bench",
                            "trainer.enable_progress_bar=false",
                            *extra,
                        ]
                    )
                    errs.append(m["val/S_rel_err"])
                    preds.append(m["val/pred_err"])
                results[setting][f"L{order}/tau{w}"] = {
                    "order": order,
                    "window_steps": w,
                    "S_rel_err": errs,
                    "S_rel_err_median": statistics.median(errs),
                    "pred_err_median": statistics.median(preds),
                }
                print(
                    f"[{time.time() - t0:6.0f}s] {setting} L{order} τ={w}·Δt: "
                    f"S_rel_err median {statistics.median(errs):.4f} "
                    f"{[round(e, 4) for e in errs]}",
                    flush=True,
                )
    tables, checks = {}, {}
    for setting, cells in results.items():
        med = {k: v["S_rel_err_median"] for k, v in cells.items()}
        rows = []
        for order in ORDERS:
            rows.append([f"L{order}", *(f"{100 * med[f'L{order}/tau{w}']:.1f} %" for w in WINDOWS)])
        tables[setting] = markdown_table(["loss", *(f"τ = {w}·Δt" for w in WINDOWS)], rows)
        checks[setting] = {
            "L2_tau100_beats_tau10": med["L2/tau100"] < med["L2/tau10"],
            "L2_tau100_beats_tau1000": med["L2/tau100"] < med["L2/tau1000"],
            "L2_beats_L1_at_tau1000": med["L2/tau1000"] < med["L1/tau1000"],
        }
        print(f"\n{setting} (median val/S_rel_err over seeds {SEEDS})\n{tables[setting]}")
        print(checks[setting])
    write_result(
        "window_tradeoff",
        {
            "seeds": list(SEEDS),
            "results": results,
            "tables": tables,
            "expected_shape": checks,
            "wall_s": time.time() - t0,
        },
    )
    return {"tables": tables, "checks": checks}


if __name__ == "__main__":
    main()
