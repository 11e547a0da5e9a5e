"""The study report plots the objective against every searched numeric parameter the study
declares, whatever a workload calls it, and counts trial states by one rule."""

from __future__ import annotations

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from cellsweep.sweep.record import counts, state_counts
from cellsweep.sweep.report import numeric_params, study_figures, study_summary


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
    assert c["FINISHED"] == 6 and "FINISHED" not in summary["states"]
