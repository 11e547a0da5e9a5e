"""Study identity: the same command resumes its study; other data, config or space never does."""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna
import pytest
from omegaconf import OmegaConf

from cellsweep.cli import main as cli_main
from cellsweep.sweep.study.identity import FINGERPRINT_ATTR, study_identity
from cellsweep.sweep.study.storage import make_storage
from cellsweep.tasks.density_pinn.simulate import SimCfg, simulate, write
from helpers.run import run_train, store_overrides


def test_identity_covers_config_space_and_file_content_not_locations(tmp_path) -> None:
    data = tmp_path / "a.csv"
    data.write_text("t,c1\n0,1\n")
    cfg = OmegaConf.create(
        {
            "task": {"lr": 0.1, "path": str(data), "out": "${paths.out}"},
            "paths": {"out": str(tmp_path / "o1")},
            "seed": 0,
        }
    )
    space = {"task.lr": "interval(0.01, 1.0)"}
    ident = study_identity(cfg, space, ignore=["paths"])
    moved = OmegaConf.merge(cfg, {"paths": {"out": str(tmp_path / "o2")}, "task": {"lr": 0.5}})
    # other output folders, and another default for a searched key: the same study
    assert study_identity(moved, space, ignore=["paths"]) == ident
    assert study_identity(cfg, {"task.lr": "interval(0.01, 2.0)"}, ["paths"]) != ident
    assert study_identity(OmegaConf.merge(cfg, {"seed": 1}), space, ["paths"]) != ident
    data.write_text("t,c1\n0,2\n")  # same path, other content
    changed = study_identity(cfg, space, ignore=["paths"])
    assert changed.fingerprint != ident.fingerprint
    assert changed.items["file.task.path"] != ident.items["file.task.path"]


def _traces(path: Path, seed: int) -> Path:
    traces, truth = simulate(SimCfg(n_cells=6, n_times=6), seed=seed)
    write(traces, truth, path)
    return path


def _family(tmp: Path, data: Path, *extra: str) -> list[str]:
    return [
        "-m",
        "sweep=density_pinn/free",
        "experiment=density_pinn/csv",
        f"data.path={data}",
        "trainer.max_epochs=1",
        "model.iters_per_epoch=2",
        "hydra.sweeper.n_trials=1",
        f"paths.sweeps_dir={tmp / 'sweeps'}",
        f"hydra.sweep.dir={tmp / 'multirun'}",
        "trainer.enable_progress_bar=false",
        *store_overrides(tmp),
        *extra,
    ]


@pytest.mark.slow
def test_other_data_is_another_study_and_a_named_one_refuses_it(tmp_path, capsys) -> None:
    a, b = _traces(tmp_path / "a.csv", 1), _traces(tmp_path / "b.csv", 2)
    code, out, err = run_train(_family(tmp_path, a, "tracking=none"), capsys)
    assert code == 0, err
    journal = tmp_path / "sweeps" / "optuna.journal"
    storage = make_storage(None, journal)
    (first,) = optuna.get_all_study_summaries(storage, include_best_trial=False)
    fp = first.user_attrs[FINGERPRINT_ATTR]
    assert first.study_name == f"density_pinn-free-{fp}" and f"fingerprint {fp}" in out

    # the same command resumes (nothing to run), another file is a new study
    code, out, err = run_train(_family(tmp_path, a, "tracking=none"), capsys)
    assert code == 0 and "(resuming)" in out, err
    code, out, err = run_train(_family(tmp_path, b, "tracking=none"), capsys)
    assert code == 0, err
    names = {s.study_name for s in optuna.get_all_study_summaries(make_storage(None, journal))}
    assert len(names) == 2 and "(resuming)" not in out
    # ... and so is the same path with other content
    shutil.copy(b, a)
    code, out, err = run_train(_family(tmp_path, a, "tracking=none"), capsys)
    assert code == 0 and "(resuming)" not in out, err
    assert len(optuna.get_all_study_summaries(make_storage(None, journal))) == 3

    # an explicit name whose stored fingerprint differs: one line, exit 2, nothing written
    before = journal.read_bytes()
    named = _family(tmp_path, b, f"hydra.sweeper.study_name={first.study_name}")
    code, out, err = run_train(named, capsys)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1, err
    assert "data.path" in lines[0] and "study_name" in lines[0]
    assert journal.read_bytes() == before
    assert not (tmp_path / "mlruns" / "mlflow.db").exists()

    # `cellsweep studies` shows fingerprints; `best` finds a study by its sweep's name
    try:
        cli_main(["studies", "--storage", str(journal)])
    except SystemExit as exc:
        assert not exc.code
    listing = capsys.readouterr().out
    assert f"fingerprint {fp} (data: data.path, task.data.path)" in listing
    try:
        cli_main(["best", "density_pinn-free", "--storage", str(journal)])
    except SystemExit as exc:
        assert exc.code == 2  # three studies of that sweep: they must be named
    assert "3 studies of 'density_pinn-free'" in capsys.readouterr().err
