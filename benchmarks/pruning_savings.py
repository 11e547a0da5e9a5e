"""What does pruning save? `sweep=chemotaxis/window`, 30 trials, over 3 seeds: the study without a
pruner against the shipped pruner (whatever conf/sweep/chemotaxis/window.yaml says), each on the
same seeds: total epochs trained and the best objective. With ``--candidates``, the other
pruners the shipped one was chosen from run too (results/pruning_candidates.json).

Target: the shipped pruner's median over the seeds trains ≤ 50 % of the unpruned study's epochs,
and its best value is within 5 % of the unpruned study's (median of the per-seed gaps).

Epoch counts and best values do not depend on timing (one worker, seeded sampler, seeded data), so
the studies may run two at a time (``--jobs``); the wall times are then those of shared cores.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import optuna

from cellsweep.paths import project_root
from cellsweep.sweep.study.storage import make_storage

sys.path.insert(0, str(Path(__file__).parent))
from common import markdown_table, write_result

N_TRIALS = 30
SEEDS = (0, 1, 2)
EPOCH_TARGET, GAP_TARGET = 0.50, 0.05
SHIPPED = "shipped"
# The unpruned reference, the shipped default (no override), and the candidates it was chosen from.
# Each value is the `hydra.sweeper.pruner` override (None: the shipped config's own).
CANDIDATES: dict[str, str | None] = {
    "none": "none",
    SHIPPED: None,
    "median (5 startup, 5 warm-up)": "median",
    "percentile 25": (
        "{_target_:optuna.pruners.PercentilePruner,percentile:25.0,"
        "n_startup_trials:5,n_warmup_steps:5}"
    ),
    "successive halving (10, ×3)": (
        "{_target_:optuna.pruners.SuccessiveHalvingPruner,min_resource:10,reduction_factor:3}"
    ),
    "successive halving (5, ×4)": (
        "{_target_:optuna.pruners.SuccessiveHalvingPruner,min_resource:5,reduction_factor:4}"
    ),
    "hyperband (5–100, ×3)": (
        "{_target_:optuna.pruners.HyperbandPruner,min_resource:5,max_resource:100,"
        "reduction_factor:3}"
    ),
}


def run_study(label: str, pruner: str | None, seed: int, workdir: Path) -> dict:
    """One `cellsweep-train -m sweep=chemotaxis/window` study, as a user would run it."""
    name = f"bench-prune-{zlib.crc32(label.encode()):08x}-s{seed}"
    cmd = [
        sys.executable,
        "-m",
        "cellsweep.train",
        "-m",
        "sweep=chemotaxis/window",
        f"hydra.sweeper.n_trials={N_TRIALS}",
        f"hydra.sweeper.study_name={name}",
        "hydra.sweeper.max_failure_rate=1.0",
        f"paths.sweeps_dir={workdir}",
        f"hydra.sweep.dir={workdir / name}",
        f"paths.cache_dir={project_root() / '.cache' / 'bench'}",
        "tracking=none",
        "trainer.enable_progress_bar=false",
        f"seed={seed}",
    ]
    if pruner is not None:
        cmd.append(f"hydra.sweeper.pruner={pruner}")
    t = time.time()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.time() - t
    study = optuna.load_study(
        study_name=name, storage=make_storage(None, workdir / "optuna.journal")
    )
    trials = study.trials
    return {
        "candidate": label,
        "seed": seed,
        "trials": len(trials),
        "pruned": sum(tr.state == optuna.trial.TrialState.PRUNED for tr in trials),
        "epochs": sum(int(tr.user_attrs.get("epochs", 0)) for tr in trials),
        "wall_s": wall,
        "best_value": study.best_value,
        "best_params": study.best_params,
    }


def shipped_pruner() -> object:
    """What the shipped window study's config says, for the record."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(project_root() / "conf" / "sweep" / "chemotaxis" / "window.yaml")
    return OmegaConf.to_container(cfg)["hydra"]["sweeper"]["pruner"]


def summarize(runs: list[dict]) -> dict[str, dict]:
    """Per candidate: per-seed epoch ratio and best-value gap to the unpruned study, and medians."""
    ref = {r["seed"]: r for r in runs if r["candidate"] == "none"}
    out: dict[str, dict] = {}
    for label in CANDIDATES:
        mine = sorted((r for r in runs if r["candidate"] == label), key=lambda r: r["seed"])
        if not mine or label == "none":
            continue
        ratios = [r["epochs"] / ref[r["seed"]]["epochs"] for r in mine]
        gaps = [
            (r["best_value"] - ref[r["seed"]]["best_value"]) / abs(ref[r["seed"]]["best_value"])
            for r in mine
        ]
        out[label] = {
            "epoch_ratios": ratios,
            "best_gaps": gaps,
            "epoch_ratio": statistics.median(ratios),
            "best_gap": statistics.median(gaps),
            "worst_gap": max(gaps),
            "pruned": [r["pruned"] for r in mine],
            "wall_s": [r["wall_s"] for r in mine],
        }
        out[label]["meets"] = (
            out[label]["epoch_ratio"] <= EPOCH_TARGET and out[label]["best_gap"] <= GAP_TARGET
        )
    return out


def candidates_summary(by: dict[str, dict]) -> str:
    """Which candidates meet both targets, and the one of them that trains the fewest epochs."""
    ok = sorted((v["epoch_ratio"], k) for k, v in by.items() if v["meets"])
    if not ok:
        return "no candidate meets both targets"
    return (
        f"meet both targets (medians over seeds {list(SEEDS)}): {', '.join(k for _, k in ok)}; "
        f"fewest epochs: {ok[0][1]} ({ok[0][0]:.2f} of the unpruned study's)"
    )


def main(jobs: int = 2, candidates: bool = False) -> dict:
    """The shipped pruner against none (`make bench`); with ``candidates``, every candidate too,
    written to pruning_candidates.json (the measurement the shipped pruner was chosen by)."""
    # a candidate that is the shipped pruner by name would run the same studies twice
    labels = [k for k, v in CANDIDATES.items() if v != shipped_pruner()] if candidates else []
    labels = ["none", SHIPPED, *(k for k in labels if k not in ("none", SHIPPED))]
    work = [(label, seed) for seed in SEEDS for label in labels]
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(jobs) as pool:
        runs = list(
            pool.map(lambda ls: run_study(ls[0], CANDIDATES[ls[0]], ls[1], Path(tmp)), work)
        )
    summary_by = summarize(runs)
    ref_rows = [r for r in runs if r["candidate"] == "none"]
    rows = [
        [
            "none",
            "0",
            " / ".join(str(r["epochs"]) for r in ref_rows),
            "1.00",
            " / ".join(f"{r['best_value']:.4f}" for r in ref_rows),
            "—",
            "—",
        ]
    ]
    for label, s in summary_by.items():
        rows.append(
            [
                label,
                " / ".join(map(str, s["pruned"])),
                " / ".join(
                    str(r["epochs"])
                    for r in sorted(runs, key=lambda r: r["seed"])
                    if r["candidate"] == label
                ),
                f"{s['epoch_ratio']:.2f}",
                " / ".join(
                    f"{r['best_value']:.4f}"
                    for r in sorted(runs, key=lambda r: r["seed"])
                    if r["candidate"] == label
                ),
                f"{100 * s['best_gap']:+.1f} % (worst {100 * s['worst_gap']:+.1f} %)",
                "yes" if s["meets"] else "no",
            ]
        )
    table = markdown_table(
        [
            "pruner",
            f"pruned (seeds {', '.join(map(str, SEEDS))})",
            "epochs",
            "epochs / unpruned (median)",
            "best val/pred_err",
            "best vs unpruned (median)",
            "meets both",
        ],
        rows,
    )
    if candidates:
        summary = candidates_summary(summary_by)
        print(table)
        print(summary)
        write_result(
            "pruning_candidates",
            {"runs": runs, "candidates": CANDIDATES, "by_candidate": summary_by, "table": table,
             "summary": summary, "n_trials": N_TRIALS, "seeds": list(SEEDS), "jobs": jobs},
        )  # fmt: skip
        return {"table": table}
    shipped = summary_by[SHIPPED]
    targets = [
        {
            "name": "shipped pruner: epochs / unpruned, median of 3 seeds",
            "value": round(shipped["epoch_ratio"], 3),
            "target": f"≤ {EPOCH_TARGET}",
            "met": shipped["epoch_ratio"] <= EPOCH_TARGET,
        },
        {
            "name": "shipped pruner: best value vs unpruned, median of 3 seeds",
            "value": f"{100 * shipped['best_gap']:+.1f} %",
            "target": f"within {100 * GAP_TARGET:.0f} %",
            "met": shipped["best_gap"] <= GAP_TARGET,
        },
    ]
    summary = (
        f"shipped pruner {shipped_pruner()!r}: {shipped['epoch_ratio']:.2f} of the epochs "
        f"(target ≤ {EPOCH_TARGET}), best value {100 * shipped['best_gap']:+.1f} % "
        f"(target within {100 * GAP_TARGET:.0f} %), medians over seeds {list(SEEDS)}"
    )
    print(table)
    print(summary)
    write_result(
        "pruning_savings",
        {
            "runs": runs,
            "shipped_pruner": shipped_pruner(),
            "by_candidate": summary_by,
            # the pre-3-seed keys, now for the shipped pruner on the first seed
            "without": next(r for r in ref_rows if r["seed"] == SEEDS[0]),
            "with": next(r for r in runs if r["candidate"] == SHIPPED and r["seed"] == SEEDS[0]),
            "epoch_ratio": shipped["epoch_ratio"],
            "best_value_rel_gap": shipped["best_gap"],
            "table": table,
            "summary": summary,
            "targets": targets,
            "n_trials": N_TRIALS,
            "seeds": list(SEEDS),
            "jobs": jobs,
        },
    )
    return {"table": table}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="studies run at once")
    parser.add_argument(
        "--candidates",
        action="store_true",
        help="every candidate pruner too, into results/pruning_candidates.json",
    )
    args = parser.parse_args()
    main(args.jobs, args.candidates)
