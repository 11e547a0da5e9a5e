"""The headline figure: what a user waits for the shipped window study, before and after issue 14.

`cellsweep-train -m sweep=chemotaxis/window experiment=chemotaxis/model1 seed=0` (30 trials, TPE,
shipped pruner, MLflow on, one worker, an empty simulation cache as on a first study), run with
the source tree of BEFORE (the last commit before issue 14's changes: thread choice, lazy
imports, per-epoch train/loss, workers started with the command) and with this checkout, one
after the other in one run on this machine. Each tree is a `git worktree` of its commit, put
first on PYTHONPATH; the environment (torch, Lightning, MLflow, Optuna) is the same. Writes
`results/headline.json` and `results/headline.png`. A third run takes this checkout with two
spinning threads (`trainer.threads=2`, `OMP_WAIT_POLICY=ACTIVE`: torch's behaviour before, which
an idle machine rewards and a shared one punishes, see `contention`). No target: the figure is
the answer.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import HERE, RESULTS, markdown_table, write_result
from window_selection import study_command

BEFORE = "de643c7"  # the parent of a08ee33, issue 14's first commit
ROOT = HERE.parent


def tree(commit: str, where: Path) -> Path:
    """A detached worktree of ``commit`` under ``where`` (removed by the caller's tmp dir)."""
    path = where / commit
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(path), commit],
        check=True,
    )
    return path


def study_wall(src_root: Path, work: Path, spinning: bool = False) -> float:
    """Wall seconds of the shipped study, with ``src_root``'s code and config."""
    env = {k: v for k, v in os.environ.items() if k not in ("CELLSWEEP_ROOT", "OMP_NUM_THREADS")}
    env.pop("OMP_WAIT_POLICY", None)  # each version's own default
    env["PYTHONPATH"] = str(src_root / "src")
    cmd = study_command(1, 0, work, cache=work / "cache")  # empty: a first study simulates
    if spinning:
        env["OMP_WAIT_POLICY"] = "ACTIVE"
        cmd.append("trainer.threads=2")
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=work, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def plot(rows: list[tuple[str, float]], path: Path) -> None:
    """Two bars, minutes, labelled with their values."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.2, 2.6), dpi=110)
    labels, mins = [r[0] for r in rows], [r[1] / 60 for r in rows]
    bars = ax.barh(labels, mins, color=["#9aa5b1", "#2f6fb0", "#7fa8d4"][: len(rows)])
    ax.invert_yaxis()
    for bar, m in zip(bars, mins, strict=True):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {m:.1f} min", va="center")
    ax.set_xlim(0, max(mins) * 1.25)
    ax.set_xlabel("wall time, minutes (2 cores)")
    ax.set_title("sweep=chemotaxis/window, 30 trials, Model I, seed 0", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="cellsweep-headline-") as tmp:
        where = Path(tmp)
        runs = []
        try:
            for label, root, spinning in (
                (f"before ({BEFORE})", tree(BEFORE, where), False),
                (f"after ({head})", ROOT, False),
                ("after, 2 spinning threads", ROOT, True),
            ):
                work = where / f"work-{len(runs)}"
                work.mkdir()
                runs.append((label, study_wall(root, work, spinning)))
                print(f"{label}: {runs[-1][1]:.0f} s", flush=True)
        finally:  # the worktree's record in .git goes with it, not only its folder
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(where / BEFORE)],
                check=False,
                capture_output=True,
            )
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot(runs, RESULTS / "headline.png")
    after = runs[1][1]
    table = markdown_table(
        ["code", "wall s", "× after"], [[k, f"{v:.0f}", f"{v / after:.2f}"] for k, v in runs]
    )
    summary = (
        "One run of each, one after the other, on the idle 2-core machine; the busy-machine "
        "side of the thread choice is in `contention`."
    )
    print(table)
    write_result(
        "headline",
        {
            "command": "cellsweep-train -m sweep=chemotaxis/window experiment=chemotaxis/model1 "
            "seed=0 (empty simulation cache)",
            "before": BEFORE,
            "after": head,
            "wall_s": dict(runs),
            "speedup": runs[0][1] / after,
            "table": table + "\n\n![headline](results/headline.png)",
            "summary": summary,
        },
    )


if __name__ == "__main__":
    main()
