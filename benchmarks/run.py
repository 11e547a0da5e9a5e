"""`make bench`: run every benchmark, write results/*.json, and refresh the table in README.md."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import contention
import density_pinn_recovery
import distributed
import headline
import peer_race
import preemption
import pruning_savings
import sampler_choice
import sim_throughput
import sweep_overhead
import trial_efficiency
import window_selection
import window_tradeoff
import worker_scaling
from common import HERE, load_result

BENCHES = {
    "sim_throughput": sim_throughput.main,
    "window_tradeoff": window_tradeoff.main,
    "sweep_overhead": sweep_overhead.main,
    "pruning_savings": pruning_savings.main,
    "window_selection": window_selection.main,
    "worker_scaling": worker_scaling.main,
    "worker_scaling_plain": worker_scaling.plain,
    "distributed": distributed.main,
    "density_pinn_recovery": density_pinn_recovery.main,
    "contention": contention.main,
    "trial_efficiency": trial_efficiency.main,
    "headline": headline.main,
    "peer_race": peer_race.main,
    "sampler_choice": sampler_choice.main,
    "preemption": preemption.main,
}
START, END = "<!-- results:start -->", "<!-- results:end -->"


def target_lines(res: dict) -> list[str]:
    """The run's own ``targets`` list (name, value, target, met), where the benchmark has one."""
    targets = res.get("targets")
    if not isinstance(targets, list) or not targets:  # density_pinn_recovery's is a dict of rules
        return []
    rows = [
        f"| {t['name']} | {t['value']} | {t['target']} | {'met' if t['met'] else '**missed**'} |"
        for t in targets
    ]
    return ["| target | measured | wanted | |", "|---|---|---|---|", *rows, ""]


def render() -> str:
    """The measured tables, from the JSON files (so the README always matches them)."""
    parts = []
    sim = load_result("sim_throughput")
    if sim:
        parts += [
            f"### sim_throughput.json ({sim['machine']['date']}, "
            f"{sim['machine']['torch_threads']} threads)",
            "",
            sim["table"],
            "",
            *target_lines(sim),
        ]
    win = load_result("window_tradeoff")
    if win:
        parts += [f"### window_tradeoff.json ({win['machine']['date']}, seeds {win['seeds']})", ""]
        for setting, table in win["tables"].items():
            shape = win["expected_shape"][setting]
            marks = ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in shape.items())
            parts += [
                f"Median final `val/S_rel_err`, {setting.replace('_', ' ')}:",
                "",
                table,
                "",
                f"Expected shape: {marks}.",
                "",
            ]
    for name in (
        "sweep_overhead",
        "pruning_savings",
        "pruning_candidates",
        "worker_scaling",
        "worker_scaling_plain",
        "distributed",
        "density_pinn_recovery",
        "window_selection",
        "window_selection_halving",
        "contention",
        "trial_efficiency",
        "headline",
        "peer_race",
        "sampler_choice",  # the whole run, or one file per study (--study NAME):
        "sampler_choice_chemotaxis-window",
        "sampler_choice_density_pinn-free",
        "sampler_choice_control",
        "preemption",
    ):
        res = load_result(name)
        if res:
            parts += [
                f"### {name}.json ({res['machine']['date']})",
                "",
                res["table"],
                "",
                res.get("summary", ""),
                "",
                *target_lines(res),
            ]
    return "\n".join(parts).rstrip() + "\n"


def update_readme() -> None:
    readme = HERE / "README.md"
    text = readme.read_text()
    block = f"{START}\n{render()}{END}"
    text = re.sub(re.escape(START) + r".*?" + re.escape(END), block, text, flags=re.S)
    readme.write_text(text)


def main(argv: list[str]) -> None:
    names = argv or list(BENCHES)
    for name in names:
        if name not in BENCHES:
            raise SystemExit(f"unknown benchmark {name!r}; known: {', '.join(BENCHES)}")
        print(f"== {name}", flush=True)
        t = time.time()
        BENCHES[name]()
        print(f"== {name} done in {time.time() - t:.0f} s\n", flush=True)
    update_readme()
    print(f"updated {HERE / 'README.md'}")


if __name__ == "__main__":
    main(sys.argv[1:])
