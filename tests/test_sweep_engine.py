"""The study loop with a stand-in job: cases that are hard to provoke with a real trainer."""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from cellsweep.sweep.engine import InterruptWatch, SweepSettings, fail_stale_trials, run_study
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


def test_only_the_first_signal_interrupts(capfd) -> None:
    """A second Ctrl-C or SIGTERM lands in the cleanup of the first; it must not abort it."""
    before = signal.getsignal(signal.SIGTERM)
    with InterruptWatch() as watch:
        with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        cleaned = False
        os.kill(os.getpid(), signal.SIGINT)  # during the cleanup: noted, not raised
        time.sleep(0.05)
        cleaned = True
    assert watch.interrupted and cleaned
    assert "SIGINT again: already stopping" in capfd.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is before
