"""The study report plots the objective against every searched numeric parameter the study
declares, whatever a workload calls it, and counts trial states by one rule."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from cellsweep.sweep.report import figure_process
from cellsweep.sweep.report.summary import numeric_params, study_figures, study_summary
from cellsweep.sweep.study.record import counts, state_counts
from cellsweep.sweep.study.storage import make_storage


def study_of(n: int = 6) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    dists = {
        "model.lr": FloatDistribution(1e-4, 1e-1, log=True),
        "model.depth": IntDistribution(1, 4),
        "task.window_steps": CategoricalDistribution([10, 100, 1000]),
        "model.act": CategoricalDistribution(["relu", "tanh"]),
        "task.bins": CategoricalDistribution([8, 16]),
    }
    for i in range(n):
        trial = study.ask(dists)
        if i == n - 1:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, trial.params["model.depth"] + trial.params["model.lr"])
    return study


def test_searched_numeric_parameters_come_from_the_distributions() -> None:
    found = numeric_params(study_of().trials)
    assert found == {
        "model.depth": False,
        "model.lr": True,
        "task.bins": False,
        "task.window_steps": True,  # numeric choices over two decades: a log axis
    }


def test_every_searched_numeric_parameter_gets_its_plot() -> None:
    figs = study_figures(study_of(), ["val/loss"])
    per_param = sorted(k for k in figs if k.startswith("objective_vs_"))
    assert per_param == [
        "objective_vs_model.depth.png",
        "objective_vs_model.lr.png",
        "objective_vs_task.bins.png",
        "objective_vs_task.window_steps.png",
    ]
    ax = figs["objective_vs_model.lr.png"].axes[0]
    assert ax.get_xscale() == "log" and ax.get_ylabel() == "val/loss"


def test_states_are_counted_once_for_summaries_and_progress() -> None:
    study = study_of()
    summary = study_summary(study, ["v"])
    assert summary["states"] == state_counts(study.trials)
    assert summary["states"]["COMPLETE"] == 5 and summary["states"]["PRUNED"] == 1
    c = counts(study)
    assert c["done"] == 6 and "done" not in summary["states"]


def journal_study(tmp_path) -> tuple[optuna.Study, Path]:
    """A finished study in a journal file, as a sweep leaves it."""
    path = tmp_path / "optuna.journal"
    study = optuna.create_study(study_name="figs", storage=make_storage(None, path))
    for trial in study_of().trials:
        study.add_trial(trial)
    return study, path


def test_the_figure_process_draws_the_finished_study_from_its_storage(tmp_path) -> None:
    """The plots drawn by the child that imported the plotting stack while the trials ran are
    the ones drawn in-process: same names, real PNG files."""
    study, path = journal_study(tmp_path)
    proc = figure_process.start()
    assert proc is not None
    drawn = proc.draw(None, path, "figs", ["val/loss"], tmp_path / "out")
    assert drawn is not None
    assert sorted(drawn) == sorted(study_figures(study, ["val/loss"]))
    for file in drawn.values():
        assert file.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_failed_figure_process_leaves_the_drawing_to_the_caller(tmp_path) -> None:
    """A child that died, or cannot see the study, answers None: the caller draws in-process."""
    _, path = journal_study(tmp_path)
    dead = figure_process.start()
    assert dead is not None
    dead.proc.kill()
    dead.proc.wait()
    assert dead.draw(None, path, "figs", ["v"], tmp_path / "a") is None
    lost = figure_process.start()
    assert lost is not None
    assert lost.draw(None, path, "no-such-study", ["v"], tmp_path / "b") is None


def test_the_figure_process_starts_only_where_it_has_a_core_of_its_own(monkeypatch) -> None:
    """Beside as many local workers as cores it would slow them as much as it saves
    (benchmarks/worker_scaling.py); a watcher of cluster workers always has the room."""
    from cellsweep.sweep import engine
    from cellsweep.sweep.settings import SweepSettings

    monkeypatch.setattr(engine, "given_cores", lambda: 2)

    def spare(n_workers: int, storage: str | None = None, run_trials: bool = True) -> bool:
        settings = SweepSettings(n_trials=1, study_name="s", n_workers=n_workers, storage=storage)
        return engine._spare_core(settings, run_trials)

    assert spare(1)
    assert not spare(2)
    assert spare(4, run_trials=False)
    assert not spare(1, storage="memory")  # another process cannot read it
