"""The study loop with a stand-in job: cases that are hard to provoke with a real trainer."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from cellsweep.sweep.engine import Sweep, run_study
from cellsweep.sweep.settings import SweepSettings
from cellsweep.sweep.space.grammar import parse_space
from cellsweep.sweep.study.heartbeat import fail_stale_trials
from cellsweep.sweep.study.storage import make_storage
from cellsweep.sweep.workers.watch import InterruptWatch


def sweep_of(settings: SweepSettings, job, journal: Path, **kw) -> Sweep:
    """A study of ``settings.params`` run by ``job``, whose result names ``obj``."""
    space = parse_space(settings.params)
    return Sweep(settings, space, job, journal, default_objective="obj", **kw)


def test_a_trial_taken_for_stale_while_it_ran_does_not_stop_its_worker(tmp_path: Path, caplog):
    """A worker paused longer than grace_period (a suspended laptop, a stalled file system)
    finds on waking that another worker failed its trial and queued it again. It drops its own
    result, says so, and goes on; the retry completes the study."""
    settings = SweepSettings(n_trials=3, params={"x": "interval(0.0, 1.0)"}, study_name="s")
    calls = []

    def job(overrides, ctx):
        calls.append(ctx.trial.number)
        if ctx.trial.number == 0:  # what another worker does to a trial without a heartbeat
            fail_stale_trials(ctx.trial.study, grace_period=-1.0)
        return {"obj": float(ctx.trial.params["x"])}, None

    with caplog.at_level(logging.WARNING, logger="cellsweep.sweep"):
        study = run_study(sweep_of(settings, job, tmp_path / "j.journal"))
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
        raised_again = False
        try:
            os.kill(os.getpid(), signal.SIGINT)  # during the cleanup: noted, not raised
            time.sleep(0.05)
        except KeyboardInterrupt:
            raised_again = True
    assert watch.interrupted and not raised_again
    assert "SIGINT again: already stopping" in capfd.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is before


def _distinct_startup_params(study) -> None:
    """No two trials drew the same point (retries of a stale or interrupted trial aside)."""
    drawn = [
        tuple(sorted(t.params.items())) for t in study.trials if "retry_of" not in t.user_attrs
    ]
    assert len(drawn) == len(set(drawn)), drawn


def test_a_resumed_seeded_study_draws_fresh_points(tmp_path: Path) -> None:
    """TPE seeded by the run seed, built afresh by the rerun: its random start-up draws must
    not repeat those of the first run (they did: 8 trials at 5 distinct points)."""
    space = {"x": "interval(0.0, 1.0)", "k": "choice(1, 2, 3)"}

    def job(overrides, ctx):
        return {"obj": float(ctx.trial.params["x"])}, None

    journal = tmp_path / "j.journal"
    for n in (4, 8):  # the same command, then resumed to more trials
        settings = SweepSettings(n_trials=n, params=space, study_name="s", seed=0)
        study = run_study(sweep_of(settings, job, journal))
    assert len(study.trials) == 8
    _distinct_startup_params(study)
    # ... and the seeded study stays reproducible
    again = SweepSettings(n_trials=8, params=space, study_name="s", seed=0)
    other = run_study(sweep_of(again, job, tmp_path / "k.journal"))
    assert [t.params for t in other.trials] == [t.params for t in study.trials]


def test_two_workers_of_a_seeded_study_draw_fresh_points(tmp_path: Path) -> None:
    """Two processes of the same seeded command (threads here) ask side by side."""
    space = {"x": "interval(0.0, 1.0)"}
    journal = tmp_path / "j.journal"

    def job(overrides, ctx):
        time.sleep(0.05)
        return {"obj": float(ctx.trial.params["x"])}, None

    def worker() -> None:
        settings = SweepSettings(n_trials=10, params=space, study_name="s", seed=3)
        run_study(sweep_of(settings, job, journal))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    study = optuna.load_study(study_name="s", storage=make_storage(None, journal))
    assert len(study.trials) == 10
    assert len({t.user_attrs["worker"] for t in study.trials}) == 1  # one process, two askers
    _distinct_startup_params(study)


def test_a_dead_workers_trial_fails_while_this_worker_is_mid_trial(tmp_path: Path) -> None:
    """Another worker starts a trial and dies (no more stamps). The heartbeat thread of the
    worker whose trial is running fails it within grace_period + heartbeat_interval, without
    waiting for its own trial to end."""
    grace, beat = 1.0, 0.25
    settings = SweepSettings(
        n_trials=2,
        params={"x": "interval(0.0, 1.0)"},
        study_name="s",
        heartbeat_interval=beat,
        grace_period=grace,
    )
    journal = tmp_path / "j.journal"
    seen: dict[str, float] = {}

    def job(overrides, ctx):
        if ctx.trial.number == 0:
            other = optuna.load_study(study_name="s", storage=make_storage(None, journal))
            zombie = other.ask()  # the dead worker's trial: stamped once, then never again
            zombie.set_user_attr("heartbeat", time.time())
            deadline = time.time() + 30
            while time.time() < deadline:
                frozen = other._storage.get_trial(zombie._trial_id)
                if frozen.state == TrialState.FAIL:
                    seen["late_s"] = (
                        frozen.datetime_complete.timestamp() - frozen.user_attrs["heartbeat"]
                    )
                    break
                time.sleep(0.05)
        return {"obj": float(ctx.trial.params["x"])}, None

    study = run_study(sweep_of(settings, job, journal))
    zombie = study.trials[1]
    assert zombie.state == TrialState.FAIL and "stale" in zombie.user_attrs["fail_reason"]
    assert "late_s" in seen, "the zombie stayed RUNNING through this worker's whole trial"
    assert seen["late_s"] <= grace + beat + 1.0  # 1 s of slack for a loaded machine
    assert [t.state for t in study.trials].count(TrialState.COMPLETE) == 2


def test_a_stale_trial_failed_first_elsewhere_is_left_alone(tmp_path: Path) -> None:
    """Two processes find the same stale trial: the second gets Optuna's
    UpdateFinishedTrialError and neither fails it twice nor queues it twice."""
    storage = make_storage(None, tmp_path / "j.journal")
    study = optuna.create_study(study_name="s", storage=storage)
    dead = study.ask()
    dead.suggest_float("x", 0.0, 1.0)
    dead.set_user_attr("heartbeat", time.time() - 3600)
    other = optuna.load_study(study_name="s", storage=make_storage(None, tmp_path / "j.journal"))
    stale = other.get_trials(deepcopy=False, states=(TrialState.RUNNING,))  # seen as stale...
    assert fail_stale_trials(study, 60.0) == [0]  # ...failed first by this one
    other.get_trials = lambda **kw: stale  # the other still holds its stale view
    assert fail_stale_trials(other, 60.0) == []
    assert len(study.get_trials(states=(TrialState.WAITING,))) == 1  # queued once


class _SlowTracker:
    """A parent run that takes a while to open, as MLflow's first run on a new database does."""

    records = True

    def __init__(self) -> None:
        self.opened_at: float | None = None
        self.finished: str | None = None

    def start(self, study_name, n_trials, directions, objectives, resumed, fingerprint=None, **kw):
        time.sleep(1.0)
        self.opened_at = time.monotonic()
        return "run-1"

    def progress(self, summary):  # the study's page: not this test's subject
        pass

    def fail_run(self, run_id, reason):  # pragma: no cover - no stale trials here
        pass

    def finish(self, summary, figures, status):
        self.finished = status


def test_workers_are_spawned_before_the_parent_run_opens_and_find_it(tmp_path: Path) -> None:
    """The extra workers start with the command; the parent run opens while they import, and
    its id reaches them through the study under their launch key."""
    from cellsweep.sweep.engine import wait_parent_run
    from cellsweep.sweep.study import attrs

    settings = SweepSettings(n_trials=2, params={"x": "interval(0.0, 1.0)"}, study_name="s")
    tracker, spawned, parents = _SlowTracker(), [], []

    def spawn(launch):
        spawned.append((time.monotonic(), launch))
        return []

    def job(overrides, ctx):
        parents.append(ctx.parent_run_id)
        return {"obj": float(ctx.trial.params["x"])}, None

    study = run_study(sweep_of(settings, job, tmp_path / "j.journal", tracker=tracker, spawn=spawn))
    ((when, launch),) = spawned
    assert launch and when < tracker.opened_at  # spawned first
    assert study.user_attrs[attrs.parent_run_key(launch)] == "run-1"
    assert wait_parent_run(study, launch, timeout=0) == "run-1"  # what a worker reads
    assert parents == ["run-1", "run-1"] and tracker.finished == "FINISHED"


def test_a_worker_waits_for_its_parent_run_and_gives_up_with_a_reason(tmp_path: Path) -> None:
    from cellsweep.sweep.engine import wait_parent_run
    from cellsweep.sweep.study import attrs

    storage = make_storage(None, tmp_path / "j.journal")
    study = optuna.create_study(study_name="s", storage=storage)
    later = threading.Timer(0.5, study.set_user_attr, (attrs.parent_run_key("k1"), "run-9"))
    later.start()
    assert wait_parent_run(optuna.load_study(study_name="s", storage=storage), "k1") == "run-9"
    with pytest.raises(RuntimeError, match="parent run did not appear within 0 s"):
        wait_parent_run(study, "other", timeout=0.3)


@pytest.mark.parametrize("sampler", ["grid", "brute_force"])
def test_a_sampler_out_of_points_ends_the_study_and_other_errors_go_on(sampler) -> None:
    """Grid and brute-force samplers call Study.stop once every point is told; outside
    optimize() that raises, and the sweep reads it as 'exhausted'. Any other RuntimeError from
    a sampler's after_trial is a real error."""
    from cellsweep.sweep.study.record import TrialOutcome, record_outcome

    samplers = {
        "grid": lambda: optuna.samplers.GridSampler({"x": [0, 1]}),
        "brute_force": lambda: optuna.samplers.BruteForceSampler(),
    }
    study = optuna.create_study(sampler=samplers[sampler]())
    told = []
    for _ in range(2):
        trial = study.ask()
        trial.suggest_categorical("x", [0, 1])
        told.append(record_outcome(study, trial, TrialOutcome(TrialState.COMPLETE, [1.0]), 0.0))
    assert told == ["told", "exhausted"]

    class Broken(optuna.samplers.RandomSampler):
        def after_trial(self, study, trial, state, values):
            raise RuntimeError("a sampler bug")

    broken = optuna.create_study(sampler=Broken())
    trial = broken.ask()
    with pytest.raises(RuntimeError, match="a sampler bug"):
        record_outcome(broken, trial, TrialOutcome(TrialState.COMPLETE, [1.0]), 0.0)


def test_a_process_warms_up_before_it_asks_its_first_trial(tmp_path: Path) -> None:
    """What a first trial would pay after it was asked (imports, the store's client) is paid
    before: a spawned worker's first trial then takes as long as any other (issue 25)."""
    settings = SweepSettings(n_trials=3, params={"x": "interval(0.0, 1.0)"}, study_name="s")
    journal = tmp_path / "j.journal"
    seen: list[str] = []

    def warm_up() -> None:
        study = optuna.load_study(study_name="s", storage=make_storage(None, journal))
        seen.append(f"warm with {len(study.trials)} trials asked")

    def job(overrides, ctx):
        seen.append(f"trial {ctx.trial.number}")
        return {"obj": float(ctx.trial.params["x"])}, None

    run_study(sweep_of(settings, job, journal, warm_up=warm_up))
    assert seen == ["warm with 0 trials asked", "trial 0", "trial 1", "trial 2"]


def test_the_shipped_cmaes_sampler_runs_a_study(tmp_path: Path) -> None:
    """``hydra/sweeper/sampler=cmaes`` needs the cmaes package, which Optuna imports only when
    CMA-ES first samples: a missing one failed every trial (sampler_choice found it)."""
    settings = SweepSettings(
        n_trials=4,
        params={"x": "interval(0.0, 1.0)", "y": "interval(-1.0, 1.0)"},
        study_name="s",
        sampler={"_target_": "optuna.samplers.CmaEsSampler", "seed": 0},
    )

    def job(overrides, ctx):
        return {"obj": float(ctx.trial.params["x"]) ** 2 + float(ctx.trial.params["y"])}, None

    study = run_study(sweep_of(settings, job, tmp_path / "j.journal"))
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4


def test_a_worker_counts_time_from_its_launch(tmp_path: Path) -> None:
    """A spawned worker's progress lines say the time since the launch (the lead's clock,
    published with the parent run), not since the worker started: its last line said 0:02
    after the lead's 0:05."""
    from cellsweep.sweep.engine import Role, open_sweep
    from cellsweep.sweep.study import attrs

    settings = SweepSettings(n_trials=3, params={"x": "interval(0.0, 1.0)"}, study_name="s")
    journal = tmp_path / "j.journal"
    study = optuna.create_study(study_name="s", storage=make_storage(None, journal))
    study.set_user_attr(attrs.parent_run_key("abc"), "run-1")
    study.set_user_attr(attrs.launch_clock_key("abc"), [time.time() - 100.0, 2])
    live = open_sweep(
        sweep_of(settings, lambda o, c: ({"obj": 0.0}, None), journal), Role.worker("abc")
    )
    assert live.parent_run() == "run-1"
    assert abs(time.monotonic() - live.since[0] - 100.0) < 5 and live.since[1] == 2
