"""Density-PINN recovery: λ_b, λ_d, f_τ and its modes from 10 seeds of a two-mode, a unimodal and
a weakly separated two-mode case (λ_b = 200, λ_d = 1, 50 cells, 21 times on [0, 10]).

Rows per case:
- ``default``: the product default (``model.family=auto``) exactly as ``cellsweep-train`` runs it:
  the shipped experiment, its Trainer config, and the run's own report (estimates.json and
  density.csv are what is scored), timed from build to the report;
- ``likelihood[<family>]``: each family alone (``model.family=<family>``), one 20 % split
  (``--families free`` runs only that row);
- ``authors``, ``authors_10x``: the authors' model at the free family's wall time and ten times it.

Family selection: the product's rule (``selection.select_family``) and every other candidate rule,
applied to the same cross-validated held-out NLLs of the default run; and to the one 20 % split
of the single-family rows, for comparison.

Every row counts its calls as right + no call + wrong = seeds (a fit that has not converged, or
the free family alone, makes no serial/parallel call), the rate intervals rejected as failed
profiles (``profile_failures``), and the median size of the run's artifacts as cellsweep-train
logs them (model.pt, the figures, the files: ``artifact_mb_median``).

``density_pinn_recovery.py [--seeds N] [--cases a,b] [--rows default,families,authors]``
runs a subset; rows not run are carried over from the previous results file, marked with its date.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import logging
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import hydra
import lightning as L
import matplotlib.pyplot as plt
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from cellsweep.tasks.density_pinn import build
from cellsweep.tasks.density_pinn.estimates import wasserstein1
from cellsweep.tasks.density_pinn.selection import ORDER, RULES, select_family
from common import RESULTS, load_result, markdown_table, write_result

CONF = Path(__file__).resolve().parents[1] / "conf"
CASES = {
    "bimodal": "experiment=density_pinn/bimodal",
    "unimodal": "experiment=density_pinn/unimodal",
    "weak_bimodal": "experiment=density_pinn/weak_bimodal",
}
SEEDS = list(range(10))
FAMILIES = ORDER
TARGETS = {
    "lambda_rel_err": 0.05,
    "unimodal_vs_true_family": 0.005,
    "density_w1": 0.15,
    "mode_tol": 0.3,
    "coverage": 0.8,
    "modes_and_call": 9,
    "band_contains_estimate_min": 0.99,
    "band_max_over_peak_median": 2.0,
    "lambda_b_interval_width_ratio_median": 1.3,
    "wall_s": 30,
    "free_wrong_calls": 1,  # per case, of 10 seeds
    "default_artifact_mb_median": 2.0,
}


def config(case: str, seed: int, extra: list[str], tmp: str = "/tmp/cellsweep-bench"):
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        cfg = compose(
            "train",
            overrides=[
                CASES[case],
                f"seed={seed}",
                "tracking=none",
                f"trainer.default_root_dir={tmp}",
                "trainer.enable_progress_bar=false",
                *extra,
            ],
        )
    return cfg


def score(est: dict, band: np.ndarray, truth, wall: float) -> dict:
    """The scores of one fit from what the run reports (estimates.json and density.csv). A rate
    without an interval (``null``: not identified) does not cover; a fit that backs no band
    (NaN columns) has no band scores."""
    grid, f_hat, lo, hi = band[:, 0], band[:, 1], band[:, 2], band[:, 3]
    f_true = np.interp(grid, truth.grid, truth.f_tau)
    backed = bool(np.isfinite(lo).all() and np.isfinite(hi).all())
    inside = (lo - 1e-12 <= f_hat) & (f_hat <= hi + 1e-12)
    d_ci = est["lambda_d_ci95"]
    return {
        "wall_s": wall,
        "lambda_b": est["lambda_b"],
        "lambda_d": est["lambda_d"],
        "lambda_b_rel_err": abs(est["lambda_b"] / truth.lambda_b - 1),
        "lambda_d_rel_err": abs(est["lambda_d"] / truth.lambda_d - 1),
        "lambda_b_ci": est["lambda_b_ci95"],
        "lambda_d_ci": d_ci,
        "lambda_d_covered": d_ci is not None and d_ci[0] <= truth.lambda_d <= d_ci[1],
        "interval_method": est["interval_method"],
        "not_identified": est.get("not_identified", {}),
        "converged": est.get("converged", True),
        "density_w1": wasserstein1(grid, f_hat, f_true),
        "modes": est["modes"],
        "true_modes": truth.modes,
        "call": est["call"],
        "peaks": est.get("peaks", est["modes"]),
        "band_contains_estimate": float(inside.mean()) if backed else None,
        "band_max_over_peak": float(hi.max() / max(f_hat.max(), 1e-300)) if backed else None,
        "family": est["family"],
    }


def artifact_mb(report, module) -> float:
    """MB of what cellsweep-train logs for a run: model.pt, the figures (PNG), the files."""
    buf = io.BytesIO()
    torch.save(report.weights if report.weights is not None else module.state_dict(), buf)
    size = len(buf.getvalue())
    for fig in report.figures.values():
        png = io.BytesIO()
        fig.savefig(png)
        size += len(png.getvalue())
    size += sum(len(text.encode()) for text in report.files.values())
    return size / 2**20


def run_once(case: str, seed: int, extra: list[str], max_time: float | None = None):
    """(task run, scores, fit seconds): the run as cellsweep-train makes it, and its report."""
    cfg = config(case, seed, extra)
    kw = (
        {}
        if max_time is None
        else {"max_epochs": 10**7, "max_time": dt.timedelta(seconds=max_time)}
    )
    L.seed_everything(seed, workers=True, verbose=False)
    t0 = time.perf_counter()
    run = build(
        OmegaConf.to_container(cfg.task, resolve=True),
        OmegaConf.to_container(cfg.model, resolve=True),
        seed,
    )
    trainer_args = OmegaConf.to_container(cfg.trainer, resolve=True)
    trainer_args.pop("threads", None)  # cellsweep's key (threads.py), not the Trainer's
    trainer: L.Trainer = hydra.utils.instantiate(trainer_args, **kw)
    trainer.fit(run.module, datamodule=run.datamodule)
    fit_s = time.perf_counter() - t0
    report = run.report()
    wall = time.perf_counter() - t0
    mb = artifact_mb(report, run.module)
    for fig in report.figures.values():
        plt.close(fig)
    est = json.loads(report.files["estimates.json"])
    band = np.loadtxt(io.StringIO(report.files["density.csv"]), delimiter=",", skiprows=1)
    truth = getattr(run.module, "truth", None) or run.module.chosen.truth
    out = score(est, band, truth, wall)
    out["fit_s"] = fit_s
    out["interval_s"] = report.metrics.get("time/interval_s")
    out["artifact_mb"] = mb
    return run, out, est


def profile_width_ratio(module, est: dict) -> float | None:
    """Reported λ_b interval width over the profile-likelihood interval's (untimed); None where
    either is missing (not identified, or the profile fails)."""
    if est["lambda_b_ci95"] is None:
        return None
    lo, hi = est["lambda_b_ci95"]
    se = max(float(np.log(hi / lo)) / (2 * 1.96), 1e-3)
    prof = module.profile_interval("log_lambda_b", se)
    return (hi - lo) / (prof.hi - prof.lo) if prof.ok else None


def default_fit(case: str, seed: int) -> tuple[dict, dict]:
    """The product default, and every candidate rule's pick on the same cross-validated NLLs."""
    run, out, est = run_once(case, seed, [])
    mod = run.module
    out["lambda_b_interval_width_ratio"] = profile_width_ratio(mod.chosen, est)
    per_cell = mod.heldout_per_cell()
    out["heldout_nll_per_cell"] = {f: v.tolist() for f, v in per_cell.items()}
    picks = {}
    for rule in RULES:
        fam = select_family(per_cell, mod.transitions_per_cell, rule).family
        e = mod.family_estimates(fam, "laplace", seed)  # all cells, the product's mode rule
        picks[rule] = {"family": fam, "n_modes": len(e.modes), "call": e.call}
    return out, picks


def family_fit(case: str, seed: int, family: str) -> dict:
    run, out, _ = run_once(case, seed, [f"model.family={family}"])
    with torch.no_grad():
        per_cell = run.module.nll(run.module.val_nll).sum(-1).numpy()
    out["heldout_nll_per_cell"] = per_cell.tolist()
    out["transitions_per_cell"] = int(run.module.val_nll.values.shape[1] - 1)
    return out


def authors_fit(case: str, seed: int, budget: float) -> dict:
    _, out, _ = run_once(case, seed, ["model=density_pinn/authors"], max_time=budget)
    return out


def modes_ok(r: dict) -> bool:
    m, t = r["modes"], r["true_modes"]
    return len(m) == len(t) and all(
        abs(a - b) <= TARGETS["mode_tol"] for a, b in zip(m, t, strict=True)
    )


def split_picks(fams: dict[str, dict]) -> dict[str, str]:
    """Each rule's pick from the single-family rows' one 20 % split."""
    per_cell = {f: np.array(r["heldout_nll_per_cell"]) for f, r in fams.items()}
    m = next(iter(fams.values()))["transitions_per_cell"]
    return {rule: select_family(per_cell, m, rule).family for rule in RULES}


def true_call(r: dict) -> str:
    return "parallel" if len(r["true_modes"]) >= 2 else "serial"


def summarize(rows: list[dict]) -> dict:
    def med(k: str) -> float | None:
        vals = [r[k] for r in rows if r.get(k) is not None]
        return float(statistics.median(vals)) if vals else None

    modes = [r["modes"] for r in rows]
    no_call = sum(r["call"] == "no call" for r in rows)
    right = sum(r["call"] == true_call(r) for r in rows)
    out = {
        "seeds": len(rows),
        "lambda_b_rel_err_median": med("lambda_b_rel_err"),
        "lambda_d_rel_err_median": med("lambda_d_rel_err"),
        "density_w1_median": med("density_w1"),
        "lambda_d_coverage": float(np.mean([r["lambda_d_covered"] for r in rows])),
        "lambda_d_coverage_profile": None,
        "wall_s_median": med("wall_s"),
        "modes_correct": float(np.mean([modes_ok(r) for r in rows])),
        "mode_locations_median": [
            float(np.median([m[i] for m in modes if len(m) > i]))
            for i in range(max(map(len, modes), default=0))
            if sum(len(m) > i for m in modes) >= len(rows) / 2
        ],
        "n_modes_correct": sum(len(r["modes"]) == len(r["true_modes"]) for r in rows),
        "call_correct": right,
        "no_call": no_call,
        "call_wrong": len(rows) - right - no_call,
        "profile_failures": sum(len(r.get("not_identified") or {}) for r in rows),
        "not_converged": sum(not r.get("converged", True) for r in rows),
        "artifact_mb_median": med("artifact_mb"),
        "band_contains_estimate_min": min(
            (r["band_contains_estimate"] for r in rows if r["band_contains_estimate"] is not None),
            default=None,
        ),
        "band_max_over_peak_median": med("band_max_over_peak"),
        "runs": rows,
    }
    if all("lambda_b_interval_width_ratio" in r for r in rows):
        out["lambda_b_interval_width_ratio_median"] = med("lambda_b_interval_width_ratio")
        out["fit_s_median"] = med("fit_s")
        out["interval_s_median"] = med("interval_s")
        out["families"] = [r["family"] for r in rows]
        out["interval_methods"] = [r["interval_method"] for r in rows]
    return out


def pct(x: float | None) -> str:
    return "" if x is None else f"{x:.1%}"


def fmt(x: float | None, spec: str) -> str:
    return "" if x is None else format(x, spec)


def targets(cases: dict) -> list[dict]:
    """The issue-29 targets as {name, value, target, met}: free's confident wrong calls per case,
    the default run's call, and the size of its artifacts. A row carried over from an earlier
    run (``--merge``, ``--rows``) still counts, its name saying from when."""
    out = []

    def name(case: str, row: dict, what: str) -> str:
        since = row.get("carried_over_from")
        return f"{case}: {what}" + (f" (carried over from {since})" if since else "")

    for case, rows in cases.items():
        free, default = rows.get("likelihood[free]"), rows.get("default")
        if free and "call_wrong" in free:
            wrong, cap = free["call_wrong"], TARGETS["free_wrong_calls"]
            what = f"likelihood[free] confident wrong calls of {free['seeds']}"
            out.append(
                {
                    "name": name(case, free, what),
                    "value": wrong,
                    "target": f"<= {cap}",
                    "met": wrong <= cap,
                }
            )
        if default and "call_correct" in default:
            need = TARGETS["modes_and_call"]
            out.append(
                {
                    "name": name(case, default, f"default call right of {default['seeds']}"),
                    "value": default["call_correct"],
                    "target": f">= {need}",
                    "met": default["call_correct"] >= need,
                }
            )
            mb, cap = default.get("artifact_mb_median"), TARGETS["default_artifact_mb_median"]
            if mb is not None:
                out.append(
                    {
                        "name": name(case, default, "default artifact_mb_median"),
                        "value": round(mb, 3),
                        "target": f"<= {cap}",
                        "met": mb <= cap,
                    }
                )
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=len(SEEDS))
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--rows", default="default,families,authors")
    ap.add_argument("--families", default=",".join(FAMILIES), help="the likelihood[f] rows run")
    ap.add_argument("--name", default="density_pinn_recovery", help="results/<name>.json")
    ap.add_argument("--merge", default="", help="combine results/<a>.json,<b>.json into --name")
    ap.add_argument(
        "--from-partial",
        default="",
        help="summarize results/<a>.partial.jsonl,... (the seeds a stopped run finished)",
    )
    args = ap.parse_args(argv if argv is not None else [])
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    want_rows = set(args.rows.split(","))
    previous = load_result(args.name) or {}
    if args.from_partial:
        from_partial(args.name, args.from_partial.split(","), previous)
        return
    if args.merge:  # per-case runs made side by side, over the previous results' other rows
        cases = {c: dict(v) for c, v in previous.get("cases", {}).items()}
        selection = {c: v for c, v in previous.get("selection", {}).items() if c in CASES}
        for part in args.merge.split(","):
            res = load_result(part)
            for case, rows in res["cases"].items():
                fresh = {k: v for k, v in rows.items() if "carried_over_from" not in v}
                if not fresh:
                    continue
                old = cases.get(case, {})
                date = previous.get("machine", {}).get("date")
                cases[case] = {
                    **fresh,
                    **{
                        k: {**v, "carried_over_from": v.get("carried_over_from", date)}
                        for k, v in old.items()
                        if k not in fresh and "alias_of" not in v
                    },
                }
                # a part without the default row has no cv_* picks: keep the earlier ones
                selection[case] = {**selection.get(case, {}), **res["selection"].get(case, {})}
        finish(args.name, cases, selection)
        return
    cases: dict[str, dict] = {}
    selection: dict = {"seeds": len(seeds), "rule": "product default (model.selection_rule)"}
    for case in args.cases.split(","):
        per: dict[str, list[dict]] = {}
        picks: dict[str, list] = {}
        for seed in seeds:
            line = [f"{case} seed {seed}:"]
            if "default" in want_rows:
                out, rule_picks = default_fit(case, seed)
                per.setdefault("default", []).append(out)
                for rule, pick in rule_picks.items():
                    picks.setdefault(f"cv_{rule}", []).append(pick)
                line.append(
                    f"default {out['family']} λ_b {out['lambda_b']:.1f} λ_d {out['lambda_d']:.3f} "
                    f"modes {[round(m, 2) for m in out['modes']]} {out['call']} "
                    f"band {out['band_contains_estimate']:.2f}/{out['band_max_over_peak']:.2f} "
                    f"width×{out['lambda_b_interval_width_ratio'] or float('nan'):.2f} "
                    f"({out['interval_method']}) "
                    f"{out['fit_s']:.1f}+{out['interval_s']:.1f} s | "
                    + " ".join(f"{r}:{p['family']}" for r, p in rule_picks.items())
                )
            fams = {}
            if "families" in want_rows or "authors" in want_rows:
                wanted = FAMILIES if "authors" in want_rows else args.families.split(",")
                fams = {f: family_fit(case, seed, f) for f in wanted}
                for f, r in fams.items():
                    per.setdefault(f"likelihood[{f}]", []).append(r)
                    line.append(
                        f"{f}: {r['call']} peaks {[round(m, 2) for m in r['peaks']]} "
                        f"{r['wall_s']:.0f} s"
                    )
                if set(fams) == set(FAMILIES):
                    for rule, fam in split_picks(fams).items():
                        r = fams[fam]
                        picks.setdefault(f"split_{rule}", []).append(
                            {"family": fam, "n_modes": len(r["modes"]), "call": r["call"]}
                        )
                    line.append(
                        "split picks " + " ".join(f"{k}:{v}" for k, v in split_picks(fams).items())
                    )
            if "authors" in want_rows:
                budget = fams["free"]["wall_s"]
                per.setdefault("authors", []).append(authors_fit(case, seed, budget))
                per.setdefault("authors_10x", []).append(authors_fit(case, seed, 10 * budget))
            print(" ".join(line), flush=True)
            with (RESULTS / f"{args.name}.partial.jsonl").open("a") as fh:  # survives a crash
                rows = {name: r[-1] for name, r in per.items()}
                fh.write(json.dumps({"case": case, "seed": seed, "rows": rows}) + "\n")
        cases[case] = {name: summarize(rows) for name, rows in per.items()}
        if "default" in cases[case]:
            cases[case]["likelihood"] = {**cases[case]["default"], "alias_of": "default"}
        old = previous.get("cases", {}).get(case, {})
        for name, summary in old.items():
            if name not in cases[case] and "alias_of" not in summary:
                cases[case][name] = {
                    **summary,
                    "carried_over_from": summary.get(
                        "carried_over_from", previous.get("machine", {}).get("date")
                    ),
                }
        n_true = 1 if case == "unimodal" else 2
        call = "serial" if n_true == 1 else "parallel"
        selection[case] = {
            rule: {
                "picks": [p["family"] for p in ps],
                "n_modes_correct": sum(p["n_modes"] == n_true for p in ps),
                "call_correct": sum(p["call"] == call for p in ps),
                "family_correct": sum(
                    p["family"] in (("gamma",) if n_true == 1 else ("mixture2", "free")) for p in ps
                ),
            }
            for rule, ps in picks.items()
        }
    for case, old in previous.get("cases", {}).items():
        cases.setdefault(case, old)
        selection.setdefault(case, previous.get("selection", {}).get(case, {}))
    finish(args.name, cases, selection)


def from_partial(result_name: str, parts: list[str], previous: dict) -> None:
    """Results from the per-seed records of runs that were stopped: every row of every finished
    seed, and each rule's pick recomputed from the stored held-out NLLs (cv_*: the default run's
    5-fold per-cell NLLs; split_*: the single-family rows'). A pick's mode count and call are
    known only where it is the family the default run reported."""
    per: dict[str, dict[str, list[dict]]] = {}
    seen: set[tuple[str, int, str]] = set()
    for part in parts:
        for line in (RESULTS / f"{part}.partial.jsonl").read_text().splitlines():
            rec = json.loads(line)
            for name, row in rec["rows"].items():
                key = (rec["case"], rec["seed"], name)
                if key not in seen:  # a seed run twice counts once
                    seen.add(key)
                    per.setdefault(rec["case"], {}).setdefault(name, []).append(row)
    cases = {c: dict(v) for c, v in previous.get("cases", {}).items()}
    selection: dict = {}
    date = previous.get("machine", {}).get("date")
    for case, rows in per.items():
        fresh = {name: summarize(r) for name, r in rows.items()}
        if "default" in fresh:
            fresh["likelihood"] = {**fresh["default"], "alias_of": "default"}
        old = cases.get(case, {})
        cases[case] = {
            **fresh,
            **{
                k: {**v, "carried_over_from": v.get("carried_over_from", date)}
                for k, v in old.items()
                if k not in fresh and "alias_of" not in v
            },
        }
        n_true = 1 if case == "unimodal" else 2
        want = ("gamma",) if n_true == 1 else ("mixture2", "free")
        call = "serial" if n_true == 1 else "parallel"
        sel: dict = {}
        for rule in RULES:
            picks, known = [], []
            for d in rows.get("default", []):
                nll = {f: np.array(v) for f, v in d["heldout_nll_per_cell"].items()}
                m = 20  # transitions per cell of the shipped experiments (21 times)
                fam = select_family(nll, m, rule).family
                picks.append(fam)
                if fam == d["family"]:
                    known.append(d)
            sel[f"cv_{rule}"] = {
                "picks": picks,
                "family_correct": sum(p in want for p in picks),
                "n_modes_correct": sum(len(d["modes"]) == n_true for d in known),
                "call_correct": sum(d["call"] == call for d in known),
                "calls_known": len(known),
            }
        fam_rows = {f: rows.get(f"likelihood[{f}]", []) for f in FAMILIES}
        n = min(len(v) for v in fam_rows.values())
        for rule in RULES if n else ():  # only where this run fitted each family alone
            picks, right_modes, right_call = [], 0, 0
            for i in range(n):
                nll = {f: np.array(fam_rows[f][i]["heldout_nll_per_cell"]) for f in FAMILIES}
                m = fam_rows["gamma"][i]["transitions_per_cell"]
                fam = select_family(nll, m, rule).family
                picks.append(fam)
                right_modes += len(fam_rows[fam][i]["modes"]) == n_true
                right_call += fam_rows[fam][i]["call"] == call
            sel[f"split_{rule}"] = {
                "picks": picks,
                "family_correct": sum(p in want for p in picks),
                "n_modes_correct": right_modes,
                "call_correct": right_call,
            }
        selection[case] = sel
    finish(result_name, cases, selection)


def finish(result_name: str, cases: dict, selection: dict) -> None:
    """Print the table and the selection summary, and write results/<name>.json."""
    header = [
        "case",
        "row",
        "seeds",
        "λ_b err",
        "λ_d err",
        "W1",
        "λ_d coverage",
        "modes ok",
        "n modes / call right",
        "call right / none / wrong",
        "profile fails",
        "artifact MB",
        "band ∋ est. (min)",
        "band max / peak",
        "λ_b width / profile",
        "wall s",
    ]
    rows = []
    for case, ests in cases.items():
        for name, s in ests.items():
            if "alias_of" in s:
                continue
            rows.append(
                [
                    case,
                    name + (" (carried over)" if "carried_over_from" in s else ""),
                    s.get("seeds", 10),
                    pct(s["lambda_b_rel_err_median"]),
                    pct(s["lambda_d_rel_err_median"]),
                    f"{s['density_w1_median']:.3f}",
                    f"{s['lambda_d_coverage']:.0%}",
                    f"{s['modes_correct']:.0%}",
                    f"{s['n_modes_correct']}/{s['call_correct']}" if "call_correct" in s else "",
                    f"{s['call_correct']}/{s['no_call']}/{s['call_wrong']}"
                    if "no_call" in s
                    else "",
                    s.get("profile_failures", ""),
                    fmt(s.get("artifact_mb_median"), ".3f"),
                    fmt(s.get("band_contains_estimate_min"), ".2f"),
                    fmt(s.get("band_max_over_peak_median"), ".2f"),
                    fmt(s.get("lambda_b_interval_width_ratio_median"), ".2f"),
                    f"{s['wall_s_median']:.1f}",
                ]
            )
    table = markdown_table(header, rows)
    sel_lines = []
    for case in cases:
        if case in selection:
            sel_lines.append(
                f"{case}: "
                + "; ".join(
                    f"{rule} {v['family_correct']}/{len(v['picks'])} family, "
                    f"{v['n_modes_correct']} modes, {v['call_correct']} call"
                    + (
                        f" (of the {v['calls_known']} seeds whose pick is the reported family)"
                        if "calls_known" in v and v["calls_known"] < len(v["picks"])
                        else ""
                    )
                    for rule, v in selection[case].items()
                )
            )
    summary = (
        "Targets for `default` (model.family=auto as cellsweep-train runs it): λ errors ≤ 5 % "
        "(unimodal: ≤ likelihood[gamma] + 0.5 point), W1 ≤ 0.15, λ_d coverage ≥ 80 %, modes and "
        "call right in ≥ 9/10 seeds, band ∋ estimate ≥ 0.99, band max / peak ≤ 2, λ_b interval "
        "width / profile ≤ 1.3, ≤ 30 s per fit. Selection rules (right family, n modes, call; "
        "cv_*: 5-fold CV of the default run, split_*: the single-family rows' 20 % split): "
        + " | ".join(sel_lines)
    )
    met = targets(cases)
    summary += "\n" + "; ".join(
        f"{t['name']}: {t['value']} ({t['target']}: {'met' if t['met'] else 'MISSED'})" for t in met
    )
    print(table)
    print(summary)
    write_result(
        result_name,
        {
            "cases": cases,
            "selection": selection,
            "targets": met,
            "target_values": TARGETS,
            "table": table,
            "summary": summary,
        },
    )


if __name__ == "__main__":
    main(sys.argv[1:])
