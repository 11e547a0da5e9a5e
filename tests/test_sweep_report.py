"""The study report plots the objective against every searched numeric parameter the study
declares, whatever a workload calls it, and counts trial states by one rule."""

from __future__ import annotations

import csv
import io
import itertools
from pathlib import Path

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from cellsweep.sweep.report import figure_process
from cellsweep.sweep.report.summary import (
    numeric_params,
    study_figures,
    study_summary,
    trials_table,
)
from cellsweep.sweep.study.record import counts, outcome_of, record_outcome, state_counts
from cellsweep.sweep.study.storage import make_storage


def study_of(n: int = 6, lr_high: float = 1e-1) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    dists = {
        "model.lr": FloatDistribution(1e-4, lr_high, log=True),
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


def test_every_searched_parameter_gets_its_plot_with_the_best_trial_marked() -> None:
    study = study_of()
    figs = study_figures(study, ["val/loss"])
    per_param = sorted(k for k in figs if k.startswith("objective_vs_"))
    assert per_param == [
        "objective_vs_model.act.png",
        "objective_vs_model.depth.png",
        "objective_vs_model.lr.png",
        "objective_vs_task.bins.png",
        "objective_vs_task.window_steps.png",
    ]
    ax = figs["objective_vs_model.lr.png"].axes[0]
    assert ax.get_xscale() == "log" and ax.get_ylabel() == "val/loss"
    # a choice is a categorical axis: one evenly spaced, labelled position per choice
    for key, labels in (("task.window_steps", ["10", "100", "1000"]), ("task.bins", ["8", "16"])):
        ax = figs[f"objective_vs_{key}.png"].axes[0]
        assert ax.get_xscale() == "linear"
        assert [t.get_text() for t in ax.get_xticklabels()] == labels
        assert list(ax.get_xticks()) == list(range(len(labels)))
    best = study.best_trial
    for name in per_param:  # the best trial is marked, where it lies, on every one
        ax = figs[name].axes[0]
        (marker,) = [c for c in ax.collections if c.get_label() == f"best: trial {best.number}"]
        (y,) = marker.get_offsets()[:, 1]
        assert y == best.value
    ax = figs["objective_vs_model.lr.png"].axes[0]
    marker = next(c for c in ax.collections if c.get_label().startswith("best"))
    assert marker.get_offsets()[0, 0] == best.params["model.lr"]


def _extents(fig, texts) -> list:
    renderer = fig.canvas.get_renderer()
    return [t.get_window_extent(renderer) for t in texts if t.get_visible() and t.get_text()]


def test_titles_and_labels_fit_their_figures_and_tick_labels_do_not_overlap() -> None:
    """Every title and label lies inside its figure (a long study name is not clipped), and
    no two tick labels of one axis overlap: the log axis of the parallel coordinates was
    labelled at every minor tick."""
    study = study_of(12, lr_high=7e-3)  # under two decades: matplotlib labels minor ticks
    study.study_name = "chemotaxis-window-with-a-rather-long-name-1a2b3c4d"
    figs = study_figures(study, ["val/pred_err"])
    assert "parallel_coordinates.png" in figs
    for name, fig in figs.items():
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        width, height = fig.bbox.width, fig.bbox.height
        for ax in fig.axes:  # what each axes draws: title, labels, tick labels, legend
            box = ax.get_tightbbox(renderer)
            assert box.x0 >= -1 and box.x1 <= width + 1, (name, ax.get_title())
            assert box.y0 >= -1 and box.y1 <= height + 1, (name, ax.get_title())
    fig = figs["parallel_coordinates.png"]
    log_axes = [ax for ax in fig.axes if ax.get_yscale() == "log"]
    assert log_axes  # model.lr
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:  # neighbouring tick labels of an axis keep a free line between them
        shown = [t for t in ax.get_yticklabels(which="both") if t.get_visible() and t.get_text()]
        lo, hi = sorted(ax.get_ylim())
        inside = [t for t in shown if lo <= t.get_position()[1] <= hi]
        boxes = sorted((t.get_window_extent(renderer) for t in inside), key=lambda b: b.y0)
        for a, b in itertools.pairwise(boxes):
            assert b.y0 - a.y1 >= min(a.height, b.height), [t.get_text() for t in inside]
    labels = [t.get_text() for t in log_axes[0].get_yticklabels() if t.get_text()]
    assert len(labels) >= 2  # still labelled, at 1, 2 and 5 of each decade


def test_trials_table_has_run_ids_reasons_and_every_end_metric() -> None:
    study = study_of()
    table = optuna.create_study()
    metrics = {"val/loss": 0.5, "val/S_rel_err": 0.07, "time/fit_s": 1.5}
    for t in study.trials:
        t.user_attrs.update({"mlflow_run_id": f"run{t.number}", "epochs": 3})
        if t.state == optuna.trial.TrialState.COMPLETE:
            t.user_attrs["metrics"] = metrics
        else:
            t.user_attrs["note"] = "pruned at epoch 2 with val/loss=1.5, above the median"
        table.add_trial(t)
    rows = list(csv.DictReader(io.StringIO(trials_table(table))))
    assert len(rows) == 6
    assert {"mlflow_run_id", "reason", "epochs", "val/S_rel_err", "time/fit_s"} <= set(rows[0])
    assert [r["mlflow_run_id"] for r in rows] == [f"run{i}" for i in range(6)]
    assert rows[0]["val/S_rel_err"] == "0.07" and rows[0]["reason"] == ""
    assert rows[5]["state"] == "PRUNED" and rows[5]["val/S_rel_err"] == ""
    assert rows[5]["reason"] == "pruned at epoch 2 with val/loss=1.5, above the median"


def test_a_trial_keeps_every_metric_its_job_returned() -> None:
    """Named metrics: the objective becomes the value, and every scalar is kept on the trial
    (a NaN beside a finite objective as text); a float return keeps none."""
    study = optuna.create_study()
    trial = study.ask()
    out = outcome_of(
        {"val/loss": 0.25, "val/S_rel_err": 0.1, "other": float("nan")}, None, ["val/loss"]
    )
    assert out.values == [0.25]
    assert record_outcome(study, trial, out, 0.0) == "told"
    assert study.trials[0].user_attrs["metrics"] == {
        "val/loss": 0.25,
        "val/S_rel_err": 0.1,
        "other": "nan",
    }
    assert outcome_of(0.5, None, ["v"]).metrics == {}


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
