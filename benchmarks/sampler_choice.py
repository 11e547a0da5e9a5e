"""Which sampler gets each shipped study to its answer in the fewest trials (issue 28)?

Four of Optuna 5's samplers, each as the product builds it (``hydra.sweeper.sampler``; the
sweeper rebuilds it before every ask with a seed derived from the study's, ``make_sampler``):

* ``tpe``: today's setting, the shipped node as it is;
* ``gp``: ``GPSampler`` (its own handling of categoricals, ints and log floats);
* ``cmaes``: ``CmaEsSampler``, which models only the numeric parameters jointly: Optuna's
  CMA-ES has no categoricals, so it samples every ``choice(...)`` key with its independent
  sampler (``RandomSampler``), and a space with a single numeric key falls back to that
  sampler altogether (``density_pinn/free``'s only float is ``model.smoothness``);
* ``random``: the baseline any search should beat.

Each runs, over seeds 0, 1, 2, the user's command of each shipped study with only the sampler's
``_target_`` changed (the pruner, budget and space as shipped; one worker, the default):

* ``cellsweep-train -m sweep=chemotaxis/window experiment=chemotaxis/model1 seed=S`` (30 trials);
* ``cellsweep-train -m sweep=density_pinn/free experiment=density_pinn/bimodal seed=S`` (12
  trials, simulated two-mode data);
* the control: ``benchmarks/sweep_app/app.py --config-name=cellsweep`` (50 trials, a quadratic
  with its minimum 0 at (2, −1)), the sampler seed set to S.

Reported per study and sampler: the trials needed to come within 1 % of the best value any
sampler found in that study (its median over seeds, and in how many seeds it got there within
the budget); for the control, whose best is ~0, "within 1 %" is within 1 % of the median trial
value above the best (a relative band around 0 is empty). And the time of one ask (building the
sampler as the sweeper does, ``study.ask()`` and every ``suggest``) after 30 and after 100
trials of each study's space, median of 5, in memory, the earlier trials' values random
(what an ask costs depends on the count and the space, not on the values).

The default is the product's config: ``recommend`` applies the rule written in
benchmarks/README.md (a sampler replaces TPE only if it needs fewer trials on every seed, at
least 20 % fewer at the median, reaches the band in as many seeds, and asks in under 5 % of the
study's median trial time); this script never edits conf/.

``--smoke``: seed 0, tiny budgets (4-trial studies of a few epochs on small data, per-ask
after 5 and 10 trials), written to a temporary folder, never to results/.
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import optuna

from cellsweep.paths import project_root
from cellsweep.sweep.space.grammar import parse_space, suggest
from cellsweep.sweep.study.storage import make_sampler, make_storage

sys.path.insert(0, str(Path(__file__).parent))
from common import HERE, RESULTS, ROOT, markdown_table, write_result

NAME = "sampler_choice"
SEEDS = (0, 1, 2)
SAMPLERS = {
    "tpe": None,  # the shipped node, unchanged
    "gp": "optuna.samplers.GPSampler",
    "cmaes": "optuna.samplers.CmaEsSampler",
    "random": "optuna.samplers.RandomSampler",
}
STUDIES = {
    "chemotaxis/window": {"sweep": "chemotaxis/window", "experiment": "chemotaxis/model1"},
    "density_pinn/free": {"sweep": "density_pinn/free", "experiment": "density_pinn/bimodal"},
    "control": None,  # sweep_app/app.py
}
SHIPPED = ("chemotaxis/window", "density_pinn/free")  # the control has no default to choose
BAND = 0.01
ASK_AT = (30, 100)
ASK_REPEATS = 5
# the rule (benchmarks/README.md, "Sampler choice"): beat TPE on every seed, by >= 20 % at the
# median, reach the band as often, and ask in < 5 % of a trial
MIN_GAIN = 0.2
MAX_ASK_SHARE = 0.05
PARALLEL = 2  # studies side by side: trial counts and values do not depend on timing
SMOKE = {
    "chemotaxis/window": [
        "hydra.sweeper.n_trials=4",
        "task.sim.n_particles=2000",
        "trainer.max_epochs=3",
    ],
    "density_pinn/free": ["hydra.sweeper.n_trials=3", "trainer.max_epochs=1"],
    "control": ["hydra.sweeper.n_trials=8"],
}
SMOKE_ASK_AT = (5, 10)
APP = HERE / "sweep_app" / "app.py"


def sampler_overrides(study: str, sampler: str, seed: int) -> list[str]:
    """Only the sampler changes. The shipped studies' node is ``{_target_, seed: ${seed}}``;
    the control selects ``hydra/sweeper/sampler=tpe`` (TPE's keys), so another sampler starts
    from the ``random`` node (``_target_`` and ``seed`` only)."""
    target = SAMPLERS[sampler]
    if STUDIES[study] is not None:
        return [f"hydra.sweeper.sampler._target_={target}"] if target else []
    out = [f"hydra.sweeper.sampler.seed={seed}"]
    if target:
        out = ["hydra/sweeper/sampler=random", f"hydra.sweeper.sampler._target_={target}", *out]
    return out


def command(study: str, sampler: str, seed: int, work: Path, extra: list[str]) -> list[str]:
    """The user's command for ``study``, its stores in ``work``."""
    spec = STUDIES[study]
    if spec is None:
        return [
            sys.executable,
            str(APP),
            "--config-name=cellsweep",
            f"hydra.sweep.dir={work / 'multirun'}",
            *sampler_overrides(study, sampler, seed),
            *extra,
            "-m",
        ]
    return [
        sys.executable,
        "-m",
        "cellsweep.train",
        "-m",
        f"sweep={spec['sweep']}",
        f"experiment={spec['experiment']}",
        f"seed={seed}",
        f"paths.sweeps_dir={work / 'sweeps'}",
        f"paths.mlruns_dir={work / 'mlruns'}",
        f"hydra.sweep.dir={work / 'multirun'}",
        f"paths.cache_dir={project_root() / '.cache' / 'bench'}",
        "trainer.enable_progress_bar=false",
        *sampler_overrides(study, sampler, seed),
        *extra,
    ]


def run_study(job: tuple[str, str, int, list[str]]) -> dict[str, Any]:
    """One study, in a fresh folder; its trials read back from the study's journal."""
    study, sampler, seed, extra = job
    with tempfile.TemporaryDirectory(prefix="cellsweep-sampler-") as tmp:
        work = Path(tmp)
        t0 = time.time()
        proc = subprocess.run(
            command(study, sampler, seed, work, extra), capture_output=True, text=True, cwd=work
        )
        wall = time.time() - t0
        if proc.returncode:
            return {
                "study": study,
                "sampler": sampler,
                "seed": seed,
                "error": f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}",
            }
        storage = make_storage(None, work / "sweeps" / "optuna.journal")
        (summary,) = optuna.get_all_study_summaries(storage, include_best_trial=False)
        s = optuna.load_study(study_name=summary.study_name, storage=storage)
        trials = [
            {
                "number": t.number,
                "state": t.state.name,
                "value": t.value,
                "params": t.params,
                "seconds": t.duration.total_seconds() if t.duration else None,
            }
            for t in s.trials
        ]
    return {"study": study, "sampler": sampler, "seed": seed, "wall_s": wall, "trials": trials}


def trials_to_band(trials: list[dict], threshold: float) -> int | None:
    """How many trials (by number, pruned and failed ones counted) until a complete trial's
    value is within the band; None if the study never got there."""
    for i, t in enumerate(sorted(trials, key=lambda t: t["number"])):
        if t["state"] == "COMPLETE" and t["value"] is not None and t["value"] <= threshold:
            return i + 1
    return None


def band(values: list[float], control: bool) -> tuple[float, float]:
    """(best, threshold): within 1 % of the best any sampler found; for the control (best ~0)
    1 % of the median value above the best."""
    best = min(values)
    if control:
        return best, best + BAND * (statistics.median(values) - best)
    return best, best + BAND * abs(best)


def ask_seconds(space_params: dict[str, Any], node: Any, n: int) -> float:
    """One ask after ``n`` trials, as the sweeper does it: the sampler built for this ask
    (``make_sampler`` with the count), ``study.ask()`` and every suggest. Median of repeats."""
    space = parse_space(space_params)
    rng = optuna.samplers.RandomSampler(seed=n)
    values = random.Random(n)
    times = []
    for _ in range(ASK_REPEATS):
        study = optuna.create_study(sampler=rng)
        for _ in range(n):
            trial = study.ask()
            suggest(trial, space)
            study.tell(trial, values.random())
        t = time.perf_counter()
        study.sampler = make_sampler(node, 0, n)
        trial = study.ask()
        suggest(trial, space)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def spaces() -> dict[str, dict[str, Any]]:
    """Each study's ``params`` as shipped (read from its file, never restated)."""
    from omegaconf import OmegaConf

    out = {}
    for study, spec in STUDIES.items():
        path = (
            ROOT / "conf" / "sweep" / f"{spec['sweep']}.yaml"
            if spec
            else HERE / "sweep_app" / "conf" / "cellsweep.yaml"
        )
        out[study] = OmegaConf.to_container(OmegaConf.load(path).hydra.sweeper.params)
    return out


def ask_times(at: tuple[int, ...], studies: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for study, params in spaces().items():
        if study not in studies:
            continue
        out[study] = {}
        for sampler, target in SAMPLERS.items():
            node = {"_target_": target or "optuna.samplers.TPESampler", "seed": 0}
            try:
                out[study][sampler] = {str(n): ask_seconds(params, node, n) for n in at}
            except ImportError as exc:  # CMA-ES without `cmaes`: said, not dropped
                out[study][sampler] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def summarize(runs: list[dict], asks: dict, at: tuple[int, ...]) -> dict[str, Any]:
    """Per study and sampler: trials to the band per seed, the median, how many seeds got
    there, the best value; and the recommendation by the README's rule."""
    out: dict[str, Any] = {}
    for study in STUDIES:
        mine = [r for r in runs if r["study"] == study and "error" not in r]
        # a seed is its own data set (the simulation's seed too): the band is per seed, around
        # the best that any sampler found on that seed's data
        bands = {}
        for seed in sorted({r["seed"] for r in mine}):
            values = [
                t["value"]
                for r in mine
                if r["seed"] == seed
                for t in r["trials"]
                if t["state"] == "COMPLETE" and t["value"] is not None
            ]
            if values:
                bands[seed] = band(values, STUDIES[study] is None)
        if not bands:
            continue
        budget = max(len(r["trials"]) for r in mine)
        per: dict[str, Any] = {}
        for sampler in SAMPLERS:
            rs = sorted((r for r in mine if r["sampler"] == sampler), key=lambda r: r["seed"])
            if not rs:  # the row says why it did not run (e.g. CMA-ES without `cmaes`)
                errors = [
                    r["error"]
                    for r in runs
                    if r["study"] == study and r["sampler"] == sampler and "error" in r
                ]
                if errors:
                    per[sampler] = {"error": errors[0]}
                continue
            counts = [trials_to_band(r["trials"], bands[r["seed"]][1]) for r in rs]
            # a seed that never got there counts as one trial past the budget (a lower bound)
            scored = [c if c is not None else budget + 1 for c in counts]
            seconds = [t["seconds"] for r in rs for t in r["trials"] if t["seconds"]]
            per[sampler] = {
                "seeds": [r["seed"] for r in rs],
                "trials_to_band": counts,
                "median_trials": statistics.median(scored),
                "reached": sum(c is not None for c in counts),
                "best": [
                    min(
                        (t["value"] for t in r["trials"] if t["state"] == "COMPLETE"),
                        default=None,
                    )
                    for r in rs
                ],
                "median_trial_s": statistics.median(seconds) if seconds else None,
                "ask_s": asks.get(study, {}).get(sampler, {}),
                "scored": scored,
            }
        out[study] = {
            "best_value": {str(k): v[0] for k, v in bands.items()},
            "threshold": {str(k): v[1] for k, v in bands.items()},
            "budget": budget,
            "samplers": per,
            "recommendation": recommend(per, str(at[-1])) if study in SHIPPED else None,
        }
    return out


def recommend(per: dict[str, Any], at: str) -> dict[str, Any]:
    """The README's rule: TPE stays unless a sampler beats it beyond the seeds' noise."""
    tpe = per.get("tpe")
    if tpe is None or "error" in tpe:
        return {"sampler": "tpe", "why": "TPE did not run: nothing to compare against"}
    trial_s = tpe["median_trial_s"] or 0.0
    qualified, reasons = [], {}
    for name, p in per.items():
        if name == "tpe" or "error" in p:
            continue
        every_seed = len(p["scored"]) == len(tpe["scored"]) and all(
            a < b for a, b in zip(p["scored"], tpe["scored"], strict=True)
        )
        gain = 1 - p["median_trials"] / tpe["median_trials"]
        ask = p["ask_s"].get(at)
        checks = {
            "fewer trials on every seed": every_seed,
            f"median gain >= {MIN_GAIN:.0%}": gain >= MIN_GAIN,
            "reached the band in as many seeds": p["reached"] >= tpe["reached"],
            f"ask at {at} trials < {MAX_ASK_SHARE:.0%} of a trial": ask is not None
            and ask < MAX_ASK_SHARE * trial_s,
        }
        reasons[name] = {"gain": round(gain, 3), **checks}
        if all(checks.values()):
            qualified.append((p["median_trials"], name))
    if not qualified:
        return {
            "sampler": "tpe",
            "why": "no sampler beats TPE beyond the seeds' noise: keep the default",
            "checks": reasons,
        }
    _, name = min(qualified)
    return {"sampler": name, "why": "meets every condition of the rule", "checks": reasons}


def render(summary: dict[str, Any], at: tuple[int, ...]) -> tuple[str, str]:
    rows = []
    for study, s in summary.items():
        for sampler, p in s["samplers"].items():
            if "error" in p:
                rows.append([study, sampler, f"did not run: {p['error']}", *[""] * (5 + len(at))])
                continue
            counts = ", ".join("—" if c is None else str(c) for c in p["trials_to_band"])
            rows.append(
                [
                    study,
                    sampler,
                    counts,
                    f"{p['median_trials']:g}",
                    f"{p['reached']}/{len(p['seeds'])}",
                    " / ".join("—" if b is None else f"{b:.4g}" for b in p["best"]),
                    *(f"{1000 * p['ask_s'].get(str(n), float('nan')):.1f}" for n in at),
                    "" if p["median_trial_s"] is None else f"{p['median_trial_s']:.1f}",
                ]
            )
    table = markdown_table(
        [
            "study",
            "sampler",
            "trials to 1 % (per seed)",
            "median",
            "reached",
            "best per seed",
            *(f"ask ms @ {n}" for n in at),
            "median trial s",
        ],
        rows,
    )
    lines = [
        f"{study}: best per seed "
        + ", ".join(f"{v:.5g} (band ≤ {s['threshold'][k]:.5g})" for k, v in s["best_value"].items())
        + (
            f"; recommended: **{s['recommendation']['sampler']}** ({s['recommendation']['why']})"
            if s["recommendation"]
            else ""
        )
        for study, s in summary.items()
    ]
    return table, "\n".join(f"- {line}" for line in lines)


def main(smoke: bool = False, only: list[str] | None = None) -> dict:
    """``only``: some of the studies (``--study NAME``, repeatable), written to
    ``sampler_choice_<names>.json`` so a partial run never stands for the whole one."""
    seeds = SEEDS[:1] if smoke else SEEDS
    at = SMOKE_ASK_AT if smoke else ASK_AT
    unknown = [s for s in only or [] if s not in STUDIES]
    if unknown:
        raise SystemExit(f"unknown study {unknown[0]!r}; known: {', '.join(STUDIES)}")
    studies = only or list(STUDIES)
    jobs = [
        (study, sampler, seed, SMOKE[study] if smoke else [])
        for seed in seeds
        for study in studies
        for sampler in SAMPLERS
    ]
    runs: list[dict] = []
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        for res in pool.map(run_study, jobs):
            runs.append(res)
            if "error" in res:
                got = res["error"]
            else:
                vals = [t["value"] for t in res["trials"] if t["value"] is not None]
                got = f"{len(vals)} values, best {min(vals, default=None)} ({res['wall_s']:.0f} s)"
            print(f"{res['study']} {res['sampler']} seed {res['seed']}: {got}", flush=True)
    asks = ask_times(at, studies)
    summary = summarize(runs, asks, at)
    table, text = render(summary, at)
    if smoke:
        text = "SMOKE RUN (tiny budgets, not a measurement):\n" + text
    print(table)
    print(text)
    folder = Path(tempfile.mkdtemp(prefix="cellsweep-sampler-smoke-")) if smoke else RESULTS
    name = NAME if not only else NAME + "_" + "_".join(x.replace("/", "-") for x in only)
    path = write_result(
        f"{name}_smoke" if smoke else name,
        {
            "smoke": smoke,
            "seeds": list(seeds),
            "samplers": {k: v or "the shipped TPESampler node" for k, v in SAMPLERS.items()},
            "ask_at": list(at),
            "studies": summary,
            "runs": runs,
            "table": table,
            "summary": text,
        },
        folder=folder,
    )
    print(f"wrote {path}")
    return {"table": table}


if __name__ == "__main__":
    argv = sys.argv[1:]
    picked = [argv[i + 1] for i, a in enumerate(argv) if a == "--study" and i + 1 < len(argv)]
    main(smoke="--smoke" in argv, only=picked or None)
