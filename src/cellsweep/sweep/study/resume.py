"""Interrupted trials resume from their checkpoint instead of starting over.

A trial names its latest checkpoint on itself (``attrs.CHECKPOINT``, written by the job as it
saves). When the trial is interrupted (a signal, Ctrl-C, a dead worker), ``record.requeue``
queues a copy with the same params that carries the checkpoint (``attrs.RESUME_FROM``), as
Optuna's ``RetryFailedTrialCallback`` carries ``retry_history``. The worker that asks the copy
re-reports the interrupted trial's intermediate values for the epochs the checkpoint holds, so
the pruner sees one unbroken curve, and hands the checkpoint to the job (``TrialContext``).
Checkpoints of a trial that ended for good are deleted: they would only fill the disk.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from cellsweep.sweep.study import attrs

log = logging.getLogger("cellsweep.sweep")


def checkpoint_file(folder: str | Path, study_name: str, number: int) -> Path:
    """Where trial ``number`` saves: ``<its folder>/checkpoints/<study>-trial<number>.ckpt``."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in study_name)
    return Path(folder) / "checkpoints" / f"{safe}-trial{number}.ckpt"


def _usable(mark: Any) -> dict[str, Any] | None:
    """A checkpoint mark whose file is still there (a shared file system: any worker's)."""
    if isinstance(mark, dict) and mark.get("path") and Path(str(mark["path"])).is_file():
        return {"path": str(mark["path"]), "epoch": int(mark.get("epoch", 0))}
    return None


def carried(trial: optuna.Trial | FrozenTrial) -> dict[str, Any]:
    """The user attributes the retry of ``trial`` starts with: which trial it reruns, and the
    checkpoint to resume from (the trial's own, else the one it had resumed from itself)."""
    marks = trial.user_attrs
    out: dict[str, Any] = {attrs.RETRY_OF: trial.number}
    mark = _usable(marks.get(attrs.CHECKPOINT)) or _usable(marks.get(attrs.RESUME_FROM))
    if mark is not None:
        out[attrs.RESUME_FROM] = mark
        if marks.get(attrs.RUN_ID):
            out[attrs.RESUME_FROM]["run_id"] = marks[attrs.RUN_ID]
    return out


@dataclass(frozen=True)
class Resume:
    """What the job of a resumed trial needs: the checkpoint, its epoch, the run it continues."""

    path: str | None = None
    epoch: int = 0
    run_id: str | None = None


FRESH = Resume()


def prepare(study: optuna.Study, trial: optuna.Trial) -> Resume:
    """For a retry that carries a checkpoint: copy the interrupted trial's reports of the epochs
    before the checkpoint's into this trial (the job reports the rest), and say where to resume.
    A checkpoint whose file is gone (another machine's disk) is a fresh start, said once."""
    mark = trial.user_attrs.get(attrs.RESUME_FROM)
    if not mark:
        return FRESH
    usable = _usable(mark)
    if usable is None:
        gone = mark.get("path")
        log.warning("trial %d: checkpoint %s is gone; it starts from epoch 0", trial.number, gone)
        return FRESH
    source = trial.user_attrs.get(attrs.RETRY_OF)
    epoch = usable["epoch"]
    if source is not None and len(study.directions) == 1:
        before = next((t for t in study.get_trials(deepcopy=False) if t.number == source), None)
        if before is not None:
            for step, value in sorted(before.intermediate_values.items()):
                if step < epoch:
                    trial.report(value, step)
    trial.set_user_attr(attrs.RESUMED_AT, epoch)
    return Resume(usable["path"], epoch, mark.get("run_id"))


def remove_checkpoints(trial: optuna.Trial | FrozenTrial) -> None:
    """Delete the checkpoints of a trial that ended for good (its own, and the one it resumed
    from); a retry never needs them."""
    for key in (attrs.CHECKPOINT, attrs.RESUME_FROM):
        mark = trial.user_attrs.get(key)
        if isinstance(mark, dict) and mark.get("path"):
            with contextlib.suppress(OSError):
                Path(str(mark["path"])).unlink(missing_ok=True)
