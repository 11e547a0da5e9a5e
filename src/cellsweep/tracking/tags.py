"""The one vocabulary of MLflow names: tags, metric names, trial states and run statuses.

Every run cellsweep writes (a single run, a trial's child run, a study's parent run) is read
back by these names: by `cellsweep` commands, the MLflow UI's filters, and other processes of a
study. Writers import them from here; none types a literal. The trial states are Optuna's
``TrialState`` names; they, the run statuses, the duration and the reason length are the words
tracking shares with the sweep, defined once in ``cellsweep.vocabulary``. The sweep's own Optuna
attribute names live in ``cellsweep.sweep.study.attrs``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# the words shared with the sweep, re-exported so that tracking's writers read one module
from cellsweep.vocabulary import COMPLETE as COMPLETE
from cellsweep.vocabulary import DURATION as DURATION
from cellsweep.vocabulary import FAIL as FAIL
from cellsweep.vocabulary import FAILED as FAILED
from cellsweep.vocabulary import FINISHED as FINISHED
from cellsweep.vocabulary import KILLED as KILLED
from cellsweep.vocabulary import PRUNED as PRUNED
from cellsweep.vocabulary import REASON_CHARS as REASON_CHARS
from cellsweep.vocabulary import TRIAL_STATES as TRIAL_STATES

# the MLflow run status a trial's run ends with, for each trial state: a pruned trial is KILLED,
# so that the runs table tells it from a complete one at a glance (its status icon)
END_STATUS = {COMPLETE: FINISHED, PRUNED: KILLED, FAIL: FAILED}

# MLflow's own tags
PARENT_RUN = "mlflow.parentRunId"
GIT_COMMIT = "mlflow.source.git.commit"
SOURCE_NAME = "mlflow.source.name"
EXPERIMENT_KIND = "mlflow.experimentKind"
# every run
GIT_DIRTY = "cellsweep.git_dirty"
COMMAND = "cellsweep.command"
SEED = "cellsweep.seed"
TASK = "cellsweep.task"
TASK_PREFIX = "cellsweep."  # a workload's own tags (task_tags): cellsweep.converged, ...
OBJECTIVE = "cellsweep.objective"
# a trial's run
STUDY = "cellsweep.study"
TRIAL = "cellsweep.trial"
TRIAL_STATE = "cellsweep.trial_state"
FAIL_REASON = "cellsweep.fail_reason"
BEST = "cellsweep.best"  # "true" on the study's best trial's run (moved when the best changes)
# a study's parent run
ROLE, STUDY_ROLE = "cellsweep.role", "study"
FINGERPRINT = "cellsweep.study_fingerprint"
N_TRIALS = "cellsweep.n_trials"
DIRECTIONS = "cellsweep.directions"
OBJECTIVES = "cellsweep.objectives"
BEST_TRIAL = "cellsweep.best_trial"
BEST_RUN_ID = "cellsweep.best_run_id"
# a resumed trial's run is a new run linked to the interrupted trial's (tracking/tags.py)
RESUMED_FROM_RUN = "cellsweep.resumed_from_run"
RESUMED_AT_EPOCH = "cellsweep.resumed_at_epoch"
SWEEP_DIR = "cellsweep.sweep_dir"  # the latest launch's folder: its trials and results
# a run of an adopted experiment (`cellsweep adopt`): the trial it reproduces
ADOPTED_STUDY = "cellsweep.adopted.study"
ADOPTED_TRIAL = "cellsweep.adopted.trial"
ADOPTED_RUN_ID = "cellsweep.adopted.run_id"
ADOPTED_FINGERPRINT = "cellsweep.adopted.fingerprint"
NOTE = "mlflow.note.content"  # a run's description in the UI (Markdown)

# the study run's params: each searched key's distribution, as text, under this prefix
SPACE_PREFIX = "space."
# an experiment's saved views of the runs table (MLflow 3's UI: its "views" menu, and the link
# ``?viewStateShareKey=<key>``): a study's trials sorted by its objective
SHARED_VIEW_PREFIX = "mlflow.sharedViewState."

# metric names and prefixes
FIT_TIME = "time/fit_s"  # wall time of a fit: an objective for accuracy-against-cost studies
BEST_VALUE = "best_value"
BEST_PREFIX = "best/"  # the study run's best value under the objective's name: best/val/pred_err
TRIALS_PREFIX = "trials_"  # a study run's count of trials per state: trials_complete, ...


def task_tags(tags: Mapping[str, Any]) -> dict[str, str]:
    """A workload's own run tags (its report names them bare: ``converged``, ``density_family``)
    under cellsweep's prefix, each value a line to read (``REASON_CHARS`` at most)."""
    return {f"{TASK_PREFIX}{name}": str(value)[:REASON_CHARS] for name, value in tags.items()}


def trial_tags(study_name: str, number: int, parent_run_id: str | None) -> dict[str, Any]:
    """The tags that make a run a trial of a study: the UI groups and filters by them."""
    tags: dict[str, Any] = {STUDY: study_name, TRIAL: str(number)}
    if parent_run_id:
        tags[PARENT_RUN] = parent_run_id
    return tags


def resumed_tags(run_id: str | None, epoch: int) -> dict[str, Any]:
    """The link from a resumed trial's new run to the interrupted trial's run, and the epoch
    it went on from: the new run holds the epochs from there on, the old one those before."""
    if not run_id and not epoch:
        return {}
    return {RESUMED_FROM_RUN: run_id or None, RESUMED_AT_EPOCH: str(epoch)}


def state_count_metric(state: str) -> str:
    """The study run's metric that counts the trials in ``state``."""
    return f"{TRIALS_PREFIX}{state.lower()}"


def record_trial_outcome(
    set_tags: Callable[[Mapping[str, Any]], None], state: str, reason: str = ""
) -> None:
    """Tag a trial's run with its state (and why it failed), however the run is reached: the
    one rule by which the UI, `cellsweep best` and the study agree on what a trial came to. A
    pruned or failed trial's reason is also its run's description, shown on its page."""
    if state not in TRIAL_STATES:
        raise ValueError(f"not a trial state: {state!r}")
    tags = {TRIAL_STATE: state}
    if reason and state == FAIL:
        tags[FAIL_REASON] = reason[:REASON_CHARS]
    if reason and state != COMPLETE:
        tags[NOTE] = f"**{state}**: {reason[:REASON_CHARS]}"
    set_tags(tags)


def best_metric(objective: str) -> str:
    """The study run's best value, named after its objective (``best/val/pred_err``)."""
    return f"{BEST_PREFIX}{objective}"


def adopted_tags(source: Mapping[str, Any], source_path: str | None) -> dict[str, Any]:
    """The tags of a run of an adopted config: the study, trial, source run and fingerprint it
    came from, and a description that links the source run (``source_path``, a UI path, when
    the run is in this store), so that the UI leads from the rerun back to its trial."""
    run_id = source.get("run_id") or None
    shown = f"[{run_id}]({source_path})" if run_id and source_path else (run_id or "unknown")
    value = source.get("value")
    objective = source.get("objective") or "value"
    note = (
        f"Adopted from study `{source.get('study')}`, trial {source.get('trial')}"
        + (f" ({objective} = {value:.6g})" if isinstance(value, int | float) else "")
        + f". Source run: {shown}."
    )
    return {
        ADOPTED_STUDY: source.get("study"),
        ADOPTED_TRIAL: source.get("trial"),
        ADOPTED_RUN_ID: run_id,
        ADOPTED_FINGERPRINT: source.get("fingerprint"),
        NOTE: note,
    }
