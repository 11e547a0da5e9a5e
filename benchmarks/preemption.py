"""What does an interruption cost a long trial? One study of long, equal-cost trials
(`sweep=chemotaxis/window` at one fixed point, MLflow on, one worker), run twice: on a quiet
machine, and with a *requeue* every ``REQUEUE_EVERY_S`` seconds: the worker gets SIGTERM (what
Slurm sends a task on ``scontrol requeue`` or a preemption) and the same command starts again
(what the requeued task runs), until the study holds ``n_trials``. Each interrupted trial goes
back to the study with its checkpoint and the next start resumes it (issue 26).

Reported: wall time, interruptions, epochs trained against epochs needed, and the work each
interruption lost: the epochs the interrupted attempt had reached beyond its last checkpoint, in
seconds of training (the quiet study's seconds per epoch).

Target: at most one checkpoint interval (``checkpoint_every``) plus one epoch of lost work per
interruption. ``checkpoint_every`` is set on the command line as a user would (the shipped
default, 300 s, suits trials of hours; the rule is the same at any scale).
"""

from __future__ import annotations

import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from cellsweep.paths import project_root
from cellsweep.sweep.study.storage import make_storage

sys.path.insert(0, str(Path(__file__).parent))
from common import markdown_table, write_result

N_TRIALS, EPOCHS = 2, 1000
CHECKPOINT_EVERY_S, REQUEUE_EVERY_S = 8.0, 30.0
FIXED = [  # one point of the window study's space: equal-cost trials, the same in both runs
    "task.window_steps=100",
    "task.loss.order=2",
    "model.depth=2",
    "model.width=32",
    "model.activation=tanh",
    "task.optim.lr=1e-3",
]


def command(name: str, workdir: Path) -> list[str]:
    """The worker's command, as a user (or a Slurm task) runs it."""
    return [
        sys.executable,
        "-m",
        "cellsweep.train",
        "-m",
        "sweep=chemotaxis/window",
        *FIXED,
        f"hydra.sweeper.n_trials={N_TRIALS}",
        f"hydra.sweeper.study_name={name}",
        f"hydra.sweeper.checkpoint_every={CHECKPOINT_EVERY_S}",
        f"trainer.max_epochs={EPOCHS}",
        f"paths.sweeps_dir={workdir}",
        f"paths.mlruns_dir={workdir / 'mlruns'}",
        f"hydra.sweep.dir={workdir / name}",
        f"paths.cache_dir={project_root() / '.cache' / 'bench'}",
        "trainer.enable_progress_bar=false",
        "seed=0",
    ]


def run(name: str, workdir: Path, requeue_every: float | None) -> dict:
    """Run the study to its end; with ``requeue_every``, SIGTERM and restart the worker that
    often. Returns the wall time, the interruptions and the study."""
    cmd, interruptions = command(name, workdir), 0
    t0 = time.time()
    while True:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            code = proc.wait(timeout=requeue_every)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)
            interruptions += 1
            continue
        if code != 0:
            raise RuntimeError(f"{name}: the worker exited with {code}")
        break
    study = optuna.load_study(
        study_name=name, storage=make_storage(None, workdir / "optuna.journal")
    )
    return {"wall_s": time.time() - t0, "interruptions": interruptions, "study": study}


def attempt_epochs(t: optuna.trial.FrozenTrial) -> tuple[int, int, int]:
    """(the epoch the attempt started from, the epochs it reached, its checkpoint's epoch)."""
    start = int(t.user_attrs.get("resumed_at", 0))
    if t.state == TrialState.COMPLETE:
        reached = int(t.user_attrs["epochs"])
    else:
        reported = [s for s in t.intermediate_values if s >= start]
        reached = max(reported) + 1 if reported else start
    saved = int((t.user_attrs.get("checkpoint") or {}).get("epoch", start))
    return start, reached, max(saved, start)


def summarize(res: dict, seconds_per_epoch: float) -> dict:
    trials = res["study"].trials
    trained = lost_max = 0
    lost: list[int] = []
    for t in trials:
        start, reached, saved = attempt_epochs(t)
        trained += reached - start
        if t.state == TrialState.FAIL:
            lost.append(reached - saved)
    lost_max = max(lost, default=0)
    return {
        "wall_s": round(res["wall_s"], 1),
        "interruptions": res["interruptions"],
        "complete": sum(t.state == TrialState.COMPLETE for t in trials),
        "epochs_trained": trained,
        "epochs_needed": N_TRIALS * EPOCHS,
        "lost_epochs": lost,
        "lost_max_epochs": lost_max,
        "lost_max_s": round(lost_max * seconds_per_epoch, 1),
        "resumed_at": [
            t.user_attrs.get("resumed_at") for t in trials if "retry_of" in t.user_attrs
        ],
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="cellsweep-preempt-") as tmp:
        quiet = run("bench-preempt-quiet", Path(tmp), None)
        fits = [
            float(t.user_attrs["metrics"]["time/fit_s"]) / EPOCHS
            for t in quiet["study"].trials
            if t.state == TrialState.COMPLETE
        ]
        per_epoch = statistics.median(fits)
        requeued = run("bench-preempt-requeue", Path(tmp), REQUEUE_EVERY_S)
        rows = {
            "quiet": summarize(quiet, per_epoch),
            f"requeue every {REQUEUE_EVERY_S:.0f} s": summarize(requeued, per_epoch),
        }
    bound = CHECKPOINT_EVERY_S + per_epoch
    interrupted = rows[f"requeue every {REQUEUE_EVERY_S:.0f} s"]
    table = markdown_table(
        [
            "run",
            "wall s",
            "interruptions",
            "complete",
            "epochs trained / needed",
            "lost per interruption (epochs)",
            "worst loss (s)",
        ],
        [
            [
                k,
                v["wall_s"],
                v["interruptions"],
                f"{v['complete']}/{N_TRIALS}",
                f"{v['epochs_trained']} / {v['epochs_needed']}",
                ", ".join(map(str, v["lost_epochs"])) or "-",
                v["lost_max_s"],
            ]
            for k, v in rows.items()
        ],
    )
    targets = [
        {
            "name": "worst work lost per interruption (s)",
            "value": interrupted["lost_max_s"],
            "target": f"<= checkpoint_every + 1 epoch = {bound:.1f}",
            "met": interrupted["lost_max_s"] <= bound,
        },
        {
            "name": "study complete after the requeues",
            "value": interrupted["complete"],
            "target": f"== {N_TRIALS}",
            "met": interrupted["complete"] == N_TRIALS,
        },
    ]
    summary = (
        f"{N_TRIALS} trials of {EPOCHS} epochs ({per_epoch * 1000:.1f} ms/epoch on the quiet "
        f"run), checkpoint_every={CHECKPOINT_EVERY_S:.0f} s; a requeue is SIGTERM + the same "
        f"command again every {REQUEUE_EVERY_S:.0f} s (its start-up included)."
    )
    path = write_result(
        "preemption",
        {
            "runs": rows,
            "seconds_per_epoch": per_epoch,
            "checkpoint_every_s": CHECKPOINT_EVERY_S,
            "requeue_every_s": REQUEUE_EVERY_S,
            "table": table,
            "summary": summary,
            "targets": targets,
        },
    )
    print(table)
    print(summary)
    for t in targets:
        print(
            f"{t['name']}: {t['value']} (target {t['target']}): {'met' if t['met'] else 'MISSED'}"
        )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
