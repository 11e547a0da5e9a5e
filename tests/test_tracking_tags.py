"""tracking/tags.py is the one vocabulary: its trial states are Optuna's, the trial outcome is
recorded by one rule, and the MLflow classes are what the sweep's tracker Protocols ask for."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from cellsweep.sweep.tracker import StudyTracker, TrialRuns
from cellsweep.tracking import tags as T
from cellsweep.tracking.study import MLflowStudyTracker
from cellsweep.tracking.trials import MLflowTrialRuns


def test_trial_states_are_optunas_names() -> None:
    finished = [s.name for s in TrialState if s.is_finished()]
    assert sorted(T.TRIAL_STATES) == sorted(finished)
    assert set(T.END_STATUS) == set(T.TRIAL_STATES)


def test_the_run_statuses_are_mlflows() -> None:
    from mlflow.entities import RunStatus

    ended = {RunStatus.to_string(s) for s in RunStatus.all_status() if RunStatus.is_terminated(s)}
    assert {T.FINISHED, T.FAILED, T.KILLED} == ended


def test_a_trial_outcome_is_tagged_by_one_rule() -> None:
    got: list[dict] = []
    T.record_trial_outcome(got.append, T.COMPLETE)
    T.record_trial_outcome(got.append, T.FAIL, "x" * 900)
    assert got[0] == {T.TRIAL_STATE: "COMPLETE"}
    assert got[1][T.TRIAL_STATE] == "FAIL" and len(got[1][T.FAIL_REASON]) == T.REASON_CHARS
    with pytest.raises(ValueError, match="not a trial state"):
        T.record_trial_outcome(got.append, "DONE")


def test_trial_tags_name_the_study_and_the_parent() -> None:
    assert T.trial_tags("s", 3, None) == {T.STUDY: "s", T.TRIAL: "3"}
    assert T.trial_tags("s", 3, "p")[T.PARENT_RUN] == "p"
    assert T.state_count_metric("PRUNED") == "trials_pruned"


def tracking(tmp_path: Path) -> dict:
    return {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "experiment": "tags"}


def test_the_mlflow_classes_satisfy_the_sweeps_protocols(tmp_path: Path) -> None:
    assert isinstance(MLflowStudyTracker(tracking(tmp_path)), StudyTracker)
    assert isinstance(MLflowTrialRuns(tracking(tmp_path)), TrialRuns)
    assert not isinstance(object(), TrialRuns)


def test_a_killed_trials_run_ends_killed_and_tagged_fail(tmp_path: Path) -> None:
    runs = MLflowTrialRuns(tracking(tmp_path))
    done = runs.open(None, "study", 0, {"x": 1})
    killed = runs.open(None, "study", 1, {"x": 2})
    runs.close(done, T.COMPLETE, ["value"], [0.5], 1.0)
    runs.kill(killed, 2.0, "interrupted: KeyboardInterrupt")
    client = MlflowClient(tracking_uri=tracking(tmp_path)["uri"])
    a, b = client.get_run(done), client.get_run(killed)
    assert a.info.status == "FINISHED" and a.data.tags[T.TRIAL_STATE] == "COMPLETE"
    assert a.data.metrics == {T.DURATION: 1.0, "value": 0.5}
    assert b.info.status == "KILLED" and b.data.tags[T.TRIAL_STATE] == "FAIL"
    assert b.data.tags[T.FAIL_REASON] == "interrupted: KeyboardInterrupt"
    assert b.data.tags[T.STUDY] == "study" and b.data.tags[T.TRIAL] == "1"


def test_a_workloads_tags_are_written_under_cellsweeps_prefix_one_line_each() -> None:
    got = T.task_tags({"converged": "false", "convergence_warning": "x" * 900})
    assert got["cellsweep.converged"] == "false"
    assert len(got["cellsweep.convergence_warning"]) == T.REASON_CHARS
