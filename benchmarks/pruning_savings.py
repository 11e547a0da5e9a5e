"""What does pruning save? `sweep=chemotaxis/window`, 30 trials, the same seed, with and without
the median pruner: total epochs trained and the best objective of each study.

Target: the pruned study trains ≤ 50 % of the epochs for a best value within 5 %.
"""

from __future__ import annotations

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

N_TRIALS = 30


def run_study(pruner: str, workdir: Path) -> dict:
    name = f"bench-prune-{pruner}"
    cmd = [
        sys.executable,
        "-m",
        "cellsweep.train",
        "-m",
        "sweep=chemotaxis/window",
        f"hydra.sweeper.n_trials={N_TRIALS}",
        f"hydra.sweeper.pruner={pruner}",
        f"hydra.sweeper.study_name={name}",
        "hydra.sweeper.max_failure_rate=1.0",
        f"paths.sweeps_dir={workdir}",
        f"hydra.sweep.dir={workdir / name}",
        f"paths.cache_dir={project_root() / '.cache' / 'bench'}",
        "tracking=none",
        "trainer.enable_progress_bar=false",
        "seed=0",
    ]
    t = time.time()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.time() - t
    study = optuna.load_study(
        study_name=name, storage=make_storage(None, workdir / "optuna.journal")
    )
    trials = study.trials
    epochs = sum(int(tr.user_attrs.get("epochs", 0)) for tr in trials)
    return {
        "pruner": pruner,
        "trials": len(trials),
        "epochs": epochs,
        "wall_s": wall,
        "best_value": study.best_value,
        "best_params": study.best_params,
        "states": {s.name: sum(tr.state == s for tr in trials) for s in optuna.trial.TrialState},
    }


def main() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        off = run_study("none", Path(tmp))
        on = run_study("median", Path(tmp))
    epoch_ratio = on["epochs"] / off["epochs"]
    best_gap = (on["best_value"] - off["best_value"]) / abs(off["best_value"])
    table = markdown_table(
        ["pruner", "trials", "pruned", "epochs", "best val/pred_err", "wall s"],
        [
            [
                r["pruner"],
                r["trials"],
                r["states"]["PRUNED"],
                r["epochs"],
                f"{r['best_value']:.4f}",
                f"{r['wall_s']:.0f}",
            ]
            for r in (off, on)
        ],
    )
    summary = (
        f"epochs with pruning / without: {epoch_ratio:.2f} (target ≤ 0.50); best value "
        f"with pruning is {100 * best_gap:+.1f} % from without (target within 5 %)"
    )
    print(table)
    print(summary)
    write_result(
        "pruning_savings",
        {
            "without": off,
            "with": on,
            "epoch_ratio": epoch_ratio,
            "best_value_rel_gap": best_gap,
            "table": table,
            "summary": summary,
            "n_trials": N_TRIALS,
        },
    )
    return {"table": table}


if __name__ == "__main__":
    main()
