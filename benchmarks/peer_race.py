"""Time to an answer against the tools a user would pick instead (issue 28).

The shipped window study (``sweep=chemotaxis/window``, Model I, its shipped trial budget and
space) run by three tools on the same cores with the same budget, seeds 0, 1, 2:

* **cellsweep**: the user's command, ``cellsweep-train -m sweep=chemotaxis/window
  hydra.sweeper.n_workers=2 seed=S`` (shipped TPE, median pruner, MLflow on), only the stores
  moved into a fresh folder (``window_selection.study_command``);
* **Ray Tune** 2.60, in its own venv (``benchmarks/.venv-ray``, cellsweep installed editable into
  it after torch's CPU pin): a function trainable that composes the trial's config with Hydra's
  compose API and fits it with cellsweep's own ``prepare_fit`` / ``fit_model`` (tracking off;
  Ray writes its own results into a throwaway folder), reporting ``val/pred_err`` every epoch
  from a Lightning callback; ``OptunaSearch`` with TPE seeded like cellsweep's, over the same
  space (the shipped ``params`` parsed by cellsweep's grammar into Optuna distributions, which
  OptunaSearch takes as they are); ``ASHAScheduler`` on ``pred_err`` per epoch (Ray's defaults,
  reduction factor 4 and one bracket, with the grace period set to the shipped pruner's 5
  warm-up epochs and ``max_t`` the trial's epochs); 2 concurrent trials on ``num_cpus=2``;
* **the stock hydra-optuna-sweeper** 1.3.0 in its own venv (``benchmarks/.venv-stock-app``: the
  plugin with its Optuna 2.10, torch, Lightning, MLflow; cellsweep's source on PYTHONPATH, not
  installed, since cellsweep needs Optuna 5): the same app (``python -m cellsweep.train``)
  with ``hydra/sweeper=optuna``, the shipped space and budget, TPE with the same seed, no
  pruning (the plugin has none), and the joblib launcher at ``n_jobs=2`` (the sweeper asks
  batches of 2). Each trial is a plain run of the app, logged to MLflow as a user's run is.

For each: the whole command's wall time; the trial each tool picks by its own rule (cellsweep and
the stock plugin: the study's best complete trial; Ray: ``get_best_result(scope="last")``, the
lowest last-reported value over all trials), its ``val/pred_err``, trial number, the wall time
(from the command's start) at which that trial ended, and its final ``val/S_rel_err``; epochs
trained; and the best-so-far curve by that rule against wall time (``peer_race_seed<S>.png``).
The simulation of each seed is cached before any tool runs, so no tool pays it; the three tools
run one after the other, their order rotated with the seed.

Targets (issue 28), medians over seeds of ratios taken within a seed: cellsweep's time to its
final best ≤ 0.8× Ray Tune's and ≤ 0.5× the stock plugin's; its chosen trial's S error ≤ 1.05×
either's.

``--smoke``: one seed, 4 trials of 6 epochs on 2000 particles, written to a temporary folder
(never to results/): it proves the three paths run, not how they compare.
``python benchmarks/peer_race.py --ray-study ARGS.json`` is what the Ray venv runs.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import (
    CONSTRAINTS,
    RESULTS,
    ROOT,
    markdown_table,
    throwaway_venv,
    write_result,
)

NAME = "peer_race"
SEEDS = (0, 1, 2)
MODEL = 1
WORKERS = 2  # concurrent trials for every tool: the 2 cores
SHIPPED = ROOT / "conf" / "sweep" / "chemotaxis" / "window.yaml"
RAY = "ray[tune]==2.60.0"
ASHA_GRACE = 5  # the shipped median pruner's warm-up epochs (study/storage.py PRUNERS)
SMOKE_EXTRA = ["task.sim.n_particles=2000", "trainer.max_epochs=6"]
SMOKE_TRIALS = 4
TOOLS = ("cellsweep", "ray", "stock")
LABELS = {
    "cellsweep": "cellsweep (2 workers, median pruner)",
    "ray": "Ray Tune (OptunaSearch TPE + ASHA, 2 concurrent)",
    "stock": "hydra-optuna-sweeper 1.3.0 (joblib n_jobs=2, no pruning)",
}
TARGETS = {"ray": 0.8, "stock": 0.5}  # cellsweep's time to its final best / the peer's
S_TOLERANCE = 1.05


def pins(*names: str) -> list[str]:
    """``name==version`` for each name, as constraints.txt pins it (case-insensitive)."""
    wanted = {n.lower(): n for n in names}
    out = []
    for line in CONSTRAINTS.read_text().splitlines():
        name, _, version = line.partition("==")
        if name.strip().lower() in wanted and version:
            out.append(f"{name.strip()}=={version.strip()}")
    return out


def ray_python() -> str:
    """Ray Tune beside cellsweep (editable, so it runs this checkout), torch's CPU pin first."""
    return str(
        throwaway_venv(
            "ray",
            ["-c", str(CONSTRAINTS), "torch==2.13.0"],
            ["-c", str(CONSTRAINTS), "-e", f"{ROOT}[science]", RAY],
        )
    )


def stock_app_python() -> tuple[str, dict[str, str]]:
    """The stock plugin with what cellsweep's app imports, and the environment that puts
    cellsweep's source (only the package: not its own Hydra plugin) on the path."""
    from sweep_overhead import STOCK_PACKAGES

    py = throwaway_venv(
        "stock-app",
        ["-c", str(CONSTRAINTS), "torch==2.13.0"],
        [
            *STOCK_PACKAGES,
            "hydra-joblib-launcher==1.2.0",
            *pins("lightning", "mlflow-skinny", "sqlalchemy", "alembic", "matplotlib", "scipy"),
        ],
    )
    shim = py.parent.parent / "src-shim"
    shim.mkdir(exist_ok=True)
    link = shim / "cellsweep"
    if not link.exists():
        link.symlink_to(ROOT / "src" / "cellsweep")
    return str(py), {"PYTHONPATH": str(shim)}


def shipped() -> dict[str, Any]:
    """The shipped study's sweeper node: budget, space, sampler (read, never restated)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.load(SHIPPED).hydra.sweeper)


def base_overrides(seed: int, work: Path, cache: Path, extra: list[str]) -> list[str]:
    """What every tool's trial gets besides the sampled values: the model, seed, stores."""
    return [
        f"experiment=chemotaxis/model{MODEL}",
        f"seed={seed}",
        f"paths.cache_dir={cache}",
        f"paths.mlruns_dir={work / 'mlruns'}",
        f"paths.sweeps_dir={work / 'sweeps'}",
        "trainer.enable_progress_bar=false",
        *extra,
    ]


def warm_cache(seed: int, cache: Path, extra: list[str]) -> None:
    """Simulate (or load) the seed's data once, so that no tool's time includes it."""
    from hydra import compose, initialize_config_dir

    from cellsweep.paths import config_dir
    from cellsweep.train import build_task

    with tempfile.TemporaryDirectory() as tmp:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            cfg = compose(
                "train",
                [*base_overrides(seed, Path(tmp), cache, extra), f"paths.output_dir={tmp}"],
            )
        build_task(cfg, Path(tmp)).datamodule.prepare_data()


# ---------------------------------------------------------------- the three tools' commands


def run_cellsweep(seed: int, work: Path, cache: Path, extra: list[str], n: int) -> dict:
    """The user's command, shipped defaults, 2 workers; trials read from the study's journal
    and the MLflow child runs."""
    import optuna
    from mlflow.tracking import MlflowClient

    from cellsweep.sweep.study.storage import make_storage
    from window_selection import final_metric, study_command

    cmd = [*study_command(MODEL, seed, work, cache), f"hydra.sweeper.n_workers={WORKERS}", *extra]
    if n != shipped()["n_trials"]:
        cmd.append(f"hydra.sweeper.n_trials={n}")
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
    wall = time.time() - t0
    if proc.returncode:
        raise RuntimeError(f"cellsweep seed {seed}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
    storage = make_storage(None, work / "sweeps" / "optuna.journal")
    (summary,) = optuna.get_all_study_summaries(storage, include_best_trial=False)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    client = MlflowClient(tracking_uri=f"sqlite:///{work / 'mlruns' / 'mlflow.db'}")
    trials = []
    for t in study.trials:
        run_id = t.user_attrs.get("mlflow_run_id")
        finished = t.datetime_complete
        if finished is None:
            continue
        trials.append(
            {
                "number": t.number,
                "state": t.state.name,
                "pred_err": t.value
                if t.value is not None
                else (final_metric(client, run_id, "val/pred_err") if run_id else None),
                "S_rel_err": final_metric(client, run_id, "val/S_rel_err") if run_id else None,
                "epochs": t.user_attrs.get("epochs"),
                "end_s": finished.timestamp() - t0,
                "eligible": t.state == optuna.trial.TrialState.COMPLETE,
                "params": t.params,
            }
        )
    return {"wall_s": wall, "trials": trials, "picked": study.best_trial.number}


def run_ray(seed: int, work: Path, cache: Path, extra: list[str], n: int) -> dict:
    """The Ray study, in the Ray venv (this file's ``ray_study``); its trials come back as JSON."""
    py = ray_python()
    args = {
        "seed": seed,
        "n_trials": n,
        "overrides": base_overrides(seed, work, cache, extra),
        "work": str(work),
        "out": str(work / "ray-trials.json"),
    }
    (work / "ray-args.json").write_text(json.dumps(args))
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(ROOT / "src")}
    t0 = time.time()
    proc = subprocess.run(
        [py, str(Path(__file__).resolve()), "--ray-study", str(work / "ray-args.json")],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
    )
    wall = time.time() - t0
    if proc.returncode:
        raise RuntimeError(f"Ray seed {seed}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
    out = json.loads((work / "ray-trials.json").read_text())
    for t in out["trials"]:
        t["end_s"] = t.pop("end") - t0
        t["eligible"] = True  # Ray's pick (scope="last") ranks every trial's last report
    return {"wall_s": wall, **out}


def stock_command(seed: int, work: Path, cache: Path, extra: list[str], n: int) -> list[str]:
    """The app under the stock plugin, from a sweep file as its user writes one (dotted keys
    under ``params`` cannot be given on the command line): the shipped space, budget and
    direction, TPE with the seed, joblib at n_jobs=2 and the sweeper asking batches of 2;
    nothing of cellsweep's sweeper."""
    import yaml

    node = shipped()
    conf = work / "stock-conf" / "sweep"
    conf.mkdir(parents=True, exist_ok=True)
    study = {
        "defaults": [
            {"override /hydra/sweeper": "optuna"},
            {"override /hydra/launcher": "joblib"},
        ],
        "hydra": {
            "sweeper": {
                "direction": node["direction"],
                "n_trials": n,
                "n_jobs": WORKERS,
                "sampler": {"seed": seed},
                "params": node["params"],
            },
            "launcher": {"n_jobs": WORKERS},
            "sweep": {"dir": str(work / "multirun")},
        },
    }
    (conf / "stock_window.yaml").write_text("# @package _global_\n" + yaml.safe_dump(study))
    return [
        "-m",
        "cellsweep.train",
        "-m",
        f"--config-dir={work / 'stock-conf'}",
        "sweep=stock_window",
        *base_overrides(seed, work, cache, extra),
    ]


def run_stock(seed: int, work: Path, cache: Path, extra: list[str], n: int) -> dict:
    """Trials from the app's own MLflow runs (one per job, in start order: the plugin numbers
    jobs batch by batch); its pick is the value in optimization_results.yaml."""
    import yaml
    from mlflow.tracking import MlflowClient

    from window_selection import final_metric

    py, env = stock_app_python()
    t0 = time.time()
    proc = subprocess.run(
        [py, *stock_command(seed, work, cache, extra, n)],
        capture_output=True,
        text=True,
        cwd=work,
        env={**os.environ, **env, "HYDRA_FULL_ERROR": "1"},
    )
    wall = time.time() - t0
    if proc.returncode:
        raise RuntimeError(f"stock seed {seed}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
    best = yaml.safe_load((work / "multirun" / "optimization_results.yaml").read_text())
    client = MlflowClient(tracking_uri=f"sqlite:///{work / 'mlruns' / 'mlflow.db'}")
    runs = sorted(
        (r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])),
        key=lambda r: r.info.start_time,
    )
    trials = []
    for i, r in enumerate(runs):
        pred = final_metric(client, r.info.run_id, "val/pred_err")
        history = client.get_metric_history(r.info.run_id, "val/pred_err")
        trials.append(
            {
                "number": i,
                "state": "COMPLETE",
                "pred_err": pred,
                "S_rel_err": final_metric(client, r.info.run_id, "val/S_rel_err"),
                "epochs": len({m.step for m in history}),
                "end_s": r.info.end_time / 1000 - t0,
                "eligible": True,
                "params": {k: r.data.params.get(k) for k in shipped()["params"]},
            }
        )
    picked = min(
        (t for t in trials if t["pred_err"] is not None),
        key=lambda t: abs(t["pred_err"] - float(best["best_value"])),
    )["number"]
    return {"wall_s": wall, "trials": trials, "picked": picked, "launcher": "joblib, n_jobs=2"}


# ---------------------------------------------------------------- inside the Ray venv


def ray_study(args_path: str) -> None:
    """One Ray Tune study of the shipped space, each trial cellsweep's own fit of one config."""
    import lightning as L
    import optuna
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    from cellsweep.sweep.space.grammar import parse_space

    args = json.loads(Path(args_path).read_text())
    node = shipped()
    space = parse_space(node["params"]).distributions
    overrides = list(args["overrides"])
    max_epochs = next(
        (int(o.split("=")[1]) for o in reversed(overrides) if o.startswith("trainer.max_epochs=")),
        None,
    )
    if max_epochs is None:
        from omegaconf import OmegaConf

        max_epochs = int(OmegaConf.load(ROOT / "conf" / "trainer" / "default.yaml").max_epochs)

    class Report(L.Callback):
        """Each epoch's validation metrics to Ray (ASHA decides on them)."""

        def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
            m = trainer.callback_metrics
            if "val/pred_err" not in m:
                return
            tune.report(
                {
                    "pred_err": float(m["val/pred_err"]),
                    "S_rel_err": float(m["val/S_rel_err"]),
                    "epoch": trainer.current_epoch + 1,
                    "end": time.time(),
                }
            )

    def trainable(config: dict[str, Any]) -> None:
        from hydra import compose, initialize_config_dir

        from cellsweep.paths import config_dir
        from cellsweep.sweep.space.grammar import to_override
        from cellsweep.train import fit_model, prepare_fit

        out = tempfile.mkdtemp(dir=args["work"])
        trial = [to_override(k, v) for k, v in config.items()]
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            cfg = compose("train", [*overrides, "tracking=none", f"paths.output_dir={out}", *trial])
        fit = prepare_fit(cfg)
        fit.trainer.callbacks.append(Report())
        fit_model(fit, None)

    ray.init(num_cpus=WORKERS, include_dashboard=False, log_to_driver=False)
    search = OptunaSearch(
        space=space,
        metric="pred_err",
        mode="min",
        sampler=optuna.samplers.TPESampler(seed=args["seed"]),
    )
    scheduler = ASHAScheduler(
        time_attr="training_iteration", max_t=max_epochs, grace_period=ASHA_GRACE
    )
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}),
        tune_config=tune.TuneConfig(
            metric="pred_err",
            mode="min",
            search_alg=search,
            scheduler=scheduler,
            num_samples=args["n_trials"],
            max_concurrent_trials=WORKERS,
        ),
        run_config=tune.RunConfig(
            storage_path=str(Path(args["work"]) / "ray_results"), name="window", verbose=0
        ),
    )
    grid = tuner.fit()
    picked = grid.get_best_result(metric="pred_err", mode="min", scope="last")
    trials = []
    for i, res in enumerate(grid):
        hist = res.metrics_dataframe
        if res.error or hist is None or hist.empty:
            trials.append({"number": i, "state": "FAIL", "error": str(res.error)[:300]})
            continue
        last = hist.iloc[-1]
        trials.append(
            {
                "number": i,
                "state": "COMPLETE" if int(last["epoch"]) >= max_epochs else "STOPPED",
                "pred_err": float(last["pred_err"]),
                "S_rel_err": float(last["S_rel_err"]),
                "epochs": int(last["epoch"]),
                "end": float(last["end"]),
                "params": res.config,
                "is_picked": res.path == picked.path,
            }
        )
    trials = [t for t in trials if t.get("state") != "FAIL"] + [
        t for t in trials if t.get("state") == "FAIL"
    ]
    pick = next(t["number"] for t in trials if t.get("is_picked"))
    Path(args["out"]).write_text(
        json.dumps({"trials": trials, "picked": pick, "ray": ray.__version__})
    )
    ray.shutdown()


# ---------------------------------------------------------------- summary


def curve(trials: list[dict]) -> list[tuple[float, float]]:
    """Best-so-far (the tool's own pick rule) at each eligible trial's end."""
    pts, best = [], float("inf")
    for t in sorted(
        (t for t in trials if t.get("eligible") and t.get("pred_err") is not None),
        key=lambda t: t["end_s"],
    ):
        best = min(best, t["pred_err"])
        pts.append((t["end_s"], best))
    return pts


def summarize_tool(res: dict) -> dict:
    """The picked trial's numbers, epochs trained and the curve."""
    trials = res["trials"]
    pick = next(t for t in trials if t["number"] == res["picked"])
    return {
        "wall_s": res["wall_s"],
        "best_pred_err": pick["pred_err"],
        "best_trial": pick["number"],
        "time_to_best_s": pick["end_s"],
        "chosen_S_rel_err": pick["S_rel_err"],
        "epochs": sum(t.get("epochs") or 0 for t in trials),
        "n_trials": len(trials),
        "states": {
            s: sum(t.get("state") == s for t in trials) for s in {t["state"] for t in trials}
        },
        "curve": curve(trials),
        **{k: v for k, v in res.items() if k not in ("trials", "wall_s", "picked")},
        "trials": trials,
    }


def plot(seed: int, rows: dict[str, dict], path: Path) -> None:
    """Best-so-far ``val/pred_err`` against wall time, one step line per tool."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"cellsweep": "#2f6fb0", "ray": "#d9822b", "stock": "#7a7a7a"}
    fig, ax = plt.subplots(figsize=(7.2, 3.6), dpi=110)
    for tool, row in rows.items():
        if "error" in row or not row["curve"]:
            continue
        xs, ys = zip(*row["curve"], strict=True)
        xs, ys = [*xs, row["wall_s"]], [*ys, ys[-1]]
        ax.step(xs, ys, where="post", color=colors[tool], label=LABELS[tool])
        ax.plot([row["time_to_best_s"]], [row["best_pred_err"]], "o", color=colors[tool])
    ax.set_xlim(left=0)
    ax.set_xlabel("wall time since the command started, s (2 cores)")
    ax.set_ylabel("best val/pred_err so far")
    ax.set_title(f"sweep=chemotaxis/window, Model I, seed {seed}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def targets_of(per_seed: dict[int, dict[str, dict]]) -> list[dict]:
    """Medians over seeds of the within-seed ratios; a peer that did not run is said so."""
    out = []
    for peer, limit in TARGETS.items():
        ok = [
            s for s in per_seed.values() if "error" not in s["cellsweep"] and "error" not in s[peer]
        ]
        t = [s["cellsweep"]["time_to_best_s"] / s[peer]["time_to_best_s"] for s in ok]
        r = [s["cellsweep"]["chosen_S_rel_err"] / s[peer]["chosen_S_rel_err"] for s in ok]
        tv = round(statistics.median(t), 3) if t else "did not run"
        rv = round(statistics.median(r), 3) if r else "did not run"
        out.append(
            {
                "name": f"time to final best, cellsweep / {peer}",
                "value": tv,
                "target": f"<= {limit}",
                "met": bool(t) and statistics.median(t) <= limit,
            }
        )
        out.append(
            {
                "name": f"chosen trial's val/S_rel_err, cellsweep / {peer}",
                "value": rv,
                "target": f"<= {S_TOLERANCE}",
                "met": bool(r) and statistics.median(r) <= S_TOLERANCE,
            }
        )
    return out


def render(per_seed: dict[int, dict[str, dict]], folder: Path, name: str) -> str:
    rows = []
    for seed, tools in per_seed.items():
        for tool, r in tools.items():
            if "error" in r:
                rows.append([seed, LABELS[tool], f"did not run: {r['error']}", *[""] * 6])
                continue
            rows.append(
                [
                    seed,
                    LABELS[tool],
                    f"{r['wall_s']:.0f}",
                    f"{r['best_pred_err']:.4f}",
                    r["best_trial"],
                    f"{r['time_to_best_s']:.0f}",
                    f"{100 * r['chosen_S_rel_err']:.1f} %",
                    r["epochs"],
                    ", ".join(f"{k} {v}" for k, v in sorted(r["states"].items())),
                ]
            )
    table = markdown_table(
        [
            "seed",
            "tool",
            "wall s",
            "picked val/pred_err",
            "trial",
            "reached at s",
            "its val/S_rel_err",
            "epochs",
            "trials",
        ],
        rows,
    )
    figs = " ".join(f"![seed {s}](results/{name}_seed{s}.png)" for s in per_seed)
    return table + "\n\n" + figs if folder == RESULTS else table


def main(smoke: bool = False) -> dict:
    node = shipped()
    seeds = SEEDS[:1] if smoke else SEEDS
    n = SMOKE_TRIALS if smoke else int(node["n_trials"])
    extra = SMOKE_EXTRA if smoke else []
    folder = Path(tempfile.mkdtemp(prefix="cellsweep-peer-race-smoke-")) if smoke else RESULTS
    name = f"{NAME}_smoke" if smoke else NAME
    cache = (
        Path(tempfile.mkdtemp(prefix="cellsweep-race-cache-"))
        if smoke
        else ROOT / ".cache" / "bench"
    )
    runners = {"cellsweep": run_cellsweep, "ray": run_ray, "stock": run_stock}
    per_seed: dict[int, dict[str, dict]] = {}
    for i, seed in enumerate(seeds):
        warm_cache(seed, cache, extra)
        order = TOOLS[i % 3 :] + TOOLS[: i % 3]  # rotated: no tool always runs first
        per_seed[seed] = {}
        for tool in order:
            with tempfile.TemporaryDirectory(prefix=f"cellsweep-race-{tool}-") as tmp:
                try:
                    row = summarize_tool(runners[tool](seed, Path(tmp), cache, extra, n))
                except Exception as exc:  # the row says so; the others still run
                    row = {"error": str(exc).strip().splitlines()[0][:300], "detail": str(exc)}
                per_seed[seed][tool] = row
                print(
                    f"seed {seed} {tool}: "
                    + (
                        row.get("error")
                        or (
                            f"{row['wall_s']:.0f} s, best {row['best_pred_err']:.4f} (trial "
                            f"{row['best_trial']} at {row['time_to_best_s']:.0f} s), S "
                            f"{row['chosen_S_rel_err']:.4f}, {row['epochs']} epochs"
                        )
                    ),
                    flush=True,
                )
        per_seed[seed] = {t: per_seed[seed][t] for t in TOOLS}
        folder.mkdir(parents=True, exist_ok=True)
        plot(seed, per_seed[seed], folder / f"{name}_seed{seed}.png")
    targets = targets_of(per_seed)
    table = render(per_seed, folder, name)
    summary = "; ".join(f"{t['name']}: {t['value']} (target {t['target']})" for t in targets)
    if smoke:
        summary = "SMOKE RUN (tiny budgets, not a measurement): " + summary
    print(table)
    print(summary)
    payload = {
        "smoke": smoke,
        "seeds": list(seeds),
        "n_trials": n,
        "extra_overrides": extra,
        "workers": WORKERS,
        "tools": LABELS,
        "asha": {"grace_period": ASHA_GRACE, "reduction_factor": 4, "brackets": 1},
        "per_seed": {str(k): v for k, v in per_seed.items()},
        "targets": targets,
        "table": table,
        "summary": summary,
    }
    path = write_result(name, payload, folder=folder)
    print(f"wrote {path}")
    if smoke:
        shutil.rmtree(cache, ignore_errors=True)
    return {"table": table}


if __name__ == "__main__":
    if sys.argv[1:2] == ["--ray-study"]:
        ray_study(sys.argv[2])
    elif sys.argv[1:2] == ["--setup"]:  # build the two peers' venvs (minutes; once)
        print(ray_python(), stock_app_python()[0])
    else:
        main(smoke="--smoke" in sys.argv[1:])
