"""The study loop with a stand-in job: cases that are hard to provoke with a real trainer."""

from __future__ import annotations

import logging
from pathlib import Path

from optuna.trial import TrialState

from cellsweep.sweep.engine import SweepSettings, fail_stale_trials, run_study
from cellsweep.sweep.space import parse_space


def test_a_trial_taken_for_stale_while_it_ran_does_not_stop_its_worker(tmp_path: Path, caplog):
    """A worker paused longer than grace_period (a suspended laptop, a stalled file system)
    finds on waking that another worker failed its trial and queued it again. It drops its own
    result, says so, and goes on; the retry completes the study."""
    settings = SweepSettings(n_trials=3, params={"x": "interval(0.0, 1.0)"}, study_name="s")
    calls = []

    def job(overrides, ctx):
        calls.append(ctx.trial.number)
        if ctx.trial.number == 0:  # what another worker does to a trial without a heartbeat
            fail_stale_trials(ctx.trial.study, grace_period=-1.0, tracker=None)
        return {"obj": float(ctx.trial.params["x"])}, None

    with caplog.at_level(logging.WARNING, logger="cellsweep.sweep"):
        study = run_study(
            settings, parse_space(settings.params), [], "obj", tmp_path / "j.journal", job
        )
    states = [t.state for t in study.trials]
    assert states == [TrialState.FAIL, *[TrialState.COMPLETE] * 3]
    assert study.trials[1].user_attrs["retry_of"] == 0
    assert study.trials[1].params == study.trials[0].params
    assert calls == [0, 1, 2, 3]
    assert "failed as stale by another worker" in caplog.text
