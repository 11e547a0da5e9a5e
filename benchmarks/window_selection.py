"""Does the shipped window study choose a good window without the truth?

``cellsweep-train -m sweep=chemotaxis/window experiment=chemotaxis/model<m> seed=<s>``, exactly
as a user runs it (the sweep's defaults: 30 trials, TPE, the shipped pruner, MLflow on), for Models
I, II and III and seeds 0, 1, 2, each study in a fresh storage and MLflow store. For each study:
the final ``val/S_rel_err`` of the trial the study chose (its best ``val/pred_err``), the lowest
final ``val/S_rel_err`` among its trials, and their ratio (1.0: the objective picked the most
accurate trial the study produced). Only the store locations and the simulation cache differ
from a user's command; nothing in the search space or objective is set here.

Target: median ratio ≤ 1.5 for every model.

Results are written after every study, so a run cut short leaves what it measured, marked
``complete: false``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import optuna
from mlflow.tracking import MlflowClient

from cellsweep.paths import project_root
from cellsweep.sweep.study.storage import make_storage

sys.path.insert(0, str(Path(__file__).parent))
from common import load_result, markdown_table, write_result

MODELS = (1, 2, 3)
SEEDS = (0, 1, 2)
TARGET = 1.5
NAME = "window_selection"
# `--pruner P`: the same studies with `hydra.sweeper.pruner=P`, written to
# results/window_selection_<P>.json (how a pruner candidate changes the chosen window)
EXTRA: list[str] = []
PARALLEL = 2  # studies side by side (see main)


def study_command(model: int, seed: int, work: Path, cache: Path | None = None) -> list[str]:
    """The user's command, with the stores moved into ``work`` (the simulation cache: the
    benchmarks' shared one, or ``cache``)."""
    return [
        sys.executable,
        "-m",
        "cellsweep.train",
        "-m",
        "sweep=chemotaxis/window",
        f"experiment=chemotaxis/model{model}",
        f"seed={seed}",
        f"paths.sweeps_dir={work / 'sweeps'}",
        f"paths.mlruns_dir={work / 'mlruns'}",
        f"hydra.sweep.dir={work / 'multirun'}",
        f"paths.cache_dir={cache or project_root() / '.cache' / 'bench'}",
        "trainer.enable_progress_bar=false",
        *EXTRA,
    ]


def final_metric(client: MlflowClient, run_id: str, key: str) -> float | None:
    """The metric's value at the run's last logged epoch (what the trial ended with)."""
    history = client.get_metric_history(run_id, key)
    return max(history, key=lambda m: (m.step, m.timestamp)).value if history else None


def measure_study(model: int, seed: int, work: Path) -> dict[str, Any]:
    t0 = time.time()
    proc = subprocess.run(study_command(model, seed, work), capture_output=True, text=True)
    wall = time.time() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"model {model} seed {seed}: exit {proc.returncode}\n{proc.stderr}")
    return analyse(model, seed, work, wall)


def analyse(model: int, seed: int, work: Path, wall: float) -> dict[str, Any]:
    """The chosen and the lowest S error of the study in ``work`` (finished or, read while it
    runs, as far as it got: ``n_finished`` says how far)."""
    storage = make_storage(None, work / "sweeps" / "optuna.journal")
    (summary,) = optuna.get_all_study_summaries(storage, include_best_trial=False)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    client = MlflowClient(tracking_uri=f"sqlite:///{work / 'mlruns' / 'mlflow.db'}")
    rows = []
    for t in study.trials:
        run_id = t.user_attrs.get("mlflow_run_id")
        if not run_id or t.state not in (
            optuna.trial.TrialState.COMPLETE,
            optuna.trial.TrialState.PRUNED,
        ):
            continue
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "pred_err": t.value,
                "S_rel_err": final_metric(client, run_id, "val/S_rel_err"),
                "S_rel_err_interior": final_metric(client, run_id, "val/S_rel_err_interior"),
                "params": t.params,
                "epochs": t.user_attrs.get("epochs"),
            }
        )
    best = study.best_trial
    chosen = next(r for r in rows if r["number"] == best.number)
    complete = [r for r in rows if r["state"] == "COMPLETE" and r["S_rel_err"] is not None]
    lowest = min(complete, key=lambda r: r["S_rel_err"])
    lowest_any = min((r for r in rows if r["S_rel_err"] is not None), key=lambda r: r["S_rel_err"])
    return {
        "model": model,
        "seed": seed,
        "study": summary.study_name,
        "wall_s": wall,
        "n_finished": len(rows),
        "chosen_trial": chosen["number"],
        "chosen_params": chosen["params"],
        "chosen_pred_err": chosen["pred_err"],
        "chosen_S_rel_err": chosen["S_rel_err"],
        "chosen_S_rel_err_interior": chosen["S_rel_err_interior"],
        "best_trial": lowest["number"],
        "best_params": lowest["params"],
        "best_S_rel_err": lowest["S_rel_err"],
        "best_S_rel_err_any_state": lowest_any["S_rel_err"],
        "ratio": chosen["S_rel_err"] / lowest["S_rel_err"],
        # the same over the faces the losses see (S next to the walls is not identifiable)
        "best_S_rel_err_interior": min(
            (r["S_rel_err_interior"] for r in complete if r["S_rel_err_interior"] is not None),
            default=None,
        ),
        "states": {
            s.name: sum(t.state == s for t in study.trials) for s in optuna.trial.TrialState
        },
        "trials": rows,
    }


def summarize(studies: list[dict[str, Any]]) -> dict[str, Any]:
    models: dict[str, Any] = {}
    for m in MODELS:
        mine = [s for s in studies if s["model"] == m]
        if not mine:
            continue
        models[str(m)] = {
            "seeds": [s["seed"] for s in mine],
            "ratio_median": statistics.median(s["ratio"] for s in mine),
            "ratios": [s["ratio"] for s in mine],
            "chosen_S_rel_err_median": statistics.median(s["chosen_S_rel_err"] for s in mine),
            "ratio_interior_median": statistics.median(
                s["chosen_S_rel_err_interior"] / s["best_S_rel_err_interior"]
                for s in mine
                if s["chosen_S_rel_err_interior"] and s["best_S_rel_err_interior"]
            )
            if any(s["best_S_rel_err_interior"] for s in mine)
            else None,
            "best_S_rel_err_median": statistics.median(s["best_S_rel_err"] for s in mine),
            "chosen_window_steps": [s["chosen_params"].get("task.window_steps") for s in mine],
            "best_window_steps": [s["best_params"].get("task.window_steps") for s in mine],
            "chosen_loss_order": [s["chosen_params"].get("task.loss.order") for s in mine],
        }
    return models


def render(studies: list[dict[str, Any]], models: dict[str, Any], done: bool) -> tuple[str, str]:
    table = markdown_table(
        [
            "model",
            "seed",
            "chosen τ/Δt, L",
            "chosen S err",
            "lowest S err (τ/Δt, L)",
            "ratio",
            "ratio (interior faces)",
            "pruned",
            "wall s",
        ],
        [
            [
                s["model"],
                s["seed"],
                f"{s['chosen_params'].get('task.window_steps')}, "
                f"L{s['chosen_params'].get('task.loss.order')}",
                f"{100 * s['chosen_S_rel_err']:.1f} %",
                f"{100 * s['best_S_rel_err']:.1f} % ({s['best_params'].get('task.window_steps')}, "
                f"L{s['best_params'].get('task.loss.order')})",
                f"{s['ratio']:.2f}",
                f"{s['chosen_S_rel_err_interior'] / s['best_S_rel_err_interior']:.2f}"
                if s["chosen_S_rel_err_interior"] and s["best_S_rel_err_interior"]
                else "",
                s["states"]["PRUNED"],
                f"{s['wall_s']:.0f}",
            ]
            for s in studies
        ],
    )
    parts = [
        f"Model {m}: median ratio {v['ratio_median']:.2f} "
        f"({'met' if v['ratio_median'] <= TARGET else 'NOT met'})"
        for m, v in models.items()
    ]
    summary = (
        f"`val/S_rel_err` of the trial chosen by `val/pred_err` / the lowest in its study, "
        f"medians over seeds (target ≤ {TARGET}): " + "; ".join(parts) + "."
    )
    if not done:
        summary += (
            f" INCOMPLETE: {len(studies)} of {len(MODELS) * len(SEEDS)} studies ran "
            "before the run was stopped."
        )
    return table, summary


def _one(job: tuple[int, int]) -> dict[str, Any]:
    model, seed = job
    with tempfile.TemporaryDirectory(prefix="cellsweep-winsel-") as tmp:
        return measure_study(model, seed, Path(tmp))


def main(resume: bool = False) -> dict:
    """Two studies side by side (each one exactly the user's command, in its own stores): on
    the shared 2-core machine nine 30-trial studies in a row take hours. Side by side changes
    only how fast they run, not what they compute (the sampler, the pruner and the trials
    are per study and deterministic). Seeds outside, models inside, so that a run cut short
    still covers every model. With ``resume``, the studies a cut-short run already measured
    (each a deterministic, self-contained study) are kept and only the missing ones run."""
    jobs = [(model, seed) for seed in SEEDS for model in MODELS]
    studies: list[dict[str, Any]] = []
    if resume and (previous := load_result(NAME)):
        studies = [s for s in previous.get("studies", []) if s.get("n_finished") == 30]
        kept = {(s["model"], s["seed"]) for s in studies}
        jobs = [job for job in jobs if job not in kept]
        print(f"resuming: {len(kept)} studies kept, {len(jobs)} to run", flush=True)
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        for future in as_completed([pool.submit(_one, job) for job in jobs]):
            res = future.result()
            studies.append(res)
            studies.sort(key=lambda r: (r["seed"], r["model"]))
            print(
                f"model {res['model']} seed {res['seed']}: chosen {res['chosen_S_rel_err']:.4f}, "
                f"lowest {res['best_S_rel_err']:.4f}, ratio {res['ratio']:.2f} "
                f"({res['wall_s']:.0f} s)",
                flush=True,
            )
            done = len(studies) == len(MODELS) * len(SEEDS)
            models = summarize(studies)
            table, summary = render(studies, models, done)
            write_result(
                NAME,
                {
                    "complete": done,
                    "target_ratio": TARGET,
                    "studies_side_by_side": PARALLEL,
                    "models": models,
                    "studies": studies,
                    "table": table,
                    "summary": summary,
                },
            )
    print(table)
    print(summary)
    return {"table": table}


def read_running(folders: list[str]) -> None:
    """Write what studies still running in ``folders`` measured so far (a run that cannot
    finish in time), marked ``complete: false`` with each study's ``n_finished``."""
    studies = []
    for folder in folders:
        work = Path(folder)
        storage = make_storage(None, work / "sweeps" / "optuna.journal")
        (summary,) = optuna.get_all_study_summaries(storage, include_best_trial=False)
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        cmd = next(t.user_attrs["overrides"] for t in study.trials if "overrides" in t.user_attrs)
        model = int(next(o for o in cmd if o.startswith("experiment=")).rsplit("model", 1)[1])
        seed = int(next(o for o in cmd if o.startswith("seed=")).split("=")[1])
        if any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
            studies.append(analyse(model, seed, work, float("nan")))
    studies.sort(key=lambda r: (r["seed"], r["model"]))
    models = summarize(studies)
    table, _ = render(studies, models, True)
    shown = ", ".join(
        f"Model {r['model']} seed {r['seed']}: {r['n_finished']} of 30 trials finished, "
        f"ratio {r['ratio']:.2f}"
        for r in studies
    )
    summary = (
        f"INCOMPLETE, read while the studies ran (not a verdict on the target ≤ {TARGET}): "
        f"{shown}; {len(MODELS) * len(SEEDS) - len(studies)} of the 9 studies produced no "
        "complete trial."
    )
    write_result(
        NAME,
        {
            "complete": False,
            "target_ratio": TARGET,
            "models": models,
            "studies": studies,
            "table": table,
            "summary": summary,
        },
    )
    print(table)
    print(summary)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--read-running"]:
        read_running(sys.argv[2:])
    else:
        args = sys.argv[1:]
        if "--pruner" in args:
            pruner = args[args.index("--pruner") + 1]
            EXTRA.append(f"hydra.sweeper.pruner={pruner}")
            NAME = f"window_selection_{pruner}"
        main(resume="--resume" in args)
