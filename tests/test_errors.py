"""Bad input: one line on stderr, exit code 2, no traceback, and nothing logged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from helpers.run import TINY, run_train, store_overrides


def _ragged_csv(tmp: Path) -> Path:
    p = tmp / "ragged.csv"
    p.write_text("t,b0,b1,b2\n0,1,2,3\n0.001,1,2\n")
    return p


def _text_csv(tmp: Path) -> Path:
    p = tmp / "text.csv"
    p.write_text("0,1,2,3\n0.001,1,x,3\n")
    return p


def _negative_csv(tmp: Path) -> Path:
    p = tmp / "neg.csv"
    p.write_text("0,1,2,3\n0.001,1,-2,3\n")
    return p


CASES = {
    "unknown group option": (["experiment=chemotaxis/model9"], "model9"),
    "unknown group": (["nosuchgroup=foo"], "nosuchgroup"),
    "unknown key": (["task.nosuchkey=1"], "nosuchkey"),
    "unknown model key": (["model.nosuchkey=1"], "nosuchkey"),
    "wrong type": (["task.sim.n_particles=many"], "task.sim.n_particles"),
    "wrong type float": (["task.sim.dt=fast"], "task.sim.dt"),
    "negative window": (["task.window_steps=-100"], "task.window_steps"),
    "zero window": (["task.window_steps=0"], "task.window_steps"),
    "negative particle count": (["task.sim.n_particles=-1000"], "task.sim.n_particles"),
    "window too long": (["task.window_steps=100000"], "task.window_steps"),
    "bins not dividing": (["task.bins=7"], "task.bins"),
    "bad activation": (["model.activation=swish9"], "model.activation"),
    "bad loss order": (["task.loss.order=3"], "task.loss.order"),
    "bad seed": (["seed=-1"], "seed"),
    "missing CSV": (
        ["experiment=chemotaxis/csv", "task.data.train_csv=/no/such/file.csv"],
        "/no/such/file.csv",
    ),
    "ragged CSV": (["experiment=chemotaxis/csv", "task.data.train_csv={ragged}"], "row 3"),
    "non-numeric CSV": (["experiment=chemotaxis/csv", "task.data.train_csv={text}"], "column 3"),
    "negative CSV": (["experiment=chemotaxis/csv", "task.data.train_csv={negative}"], "negative"),
    "unknown trainer argument": (["+trainer.nosuchflag=1"], "nosuchflag"),
    "bad thread count": (["trainer.threads=0"], "trainer.threads"),
    "unreachable tracking server": (
        ["tracking=server", "tracking.uri=http://alice:pw-in-uri@127.0.0.1:9"],
        "http://***@127.0.0.1:9",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_line_and_exit_2(name, tmp_path, capsys) -> None:
    args, needle = CASES[name]
    files = {
        "ragged": _ragged_csv(tmp_path),
        "text": _text_csv(tmp_path),
        "negative": _negative_csv(tmp_path),
    }
    args = [a.format(**files) for a in args]
    code, _, err = run_train([*TINY, *store_overrides(tmp_path), *args], capsys)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("cellsweep-train: error:")
    assert needle in lines[0]
    assert "Traceback" not in err and "pw-in-uri" not in err
    assert not (tmp_path / "mlruns" / "mlflow.db").exists()  # nothing was logged


def test_console_script_exit_code_and_single_line(tmp_path) -> None:
    exe = Path(sys.executable).parent / "cellsweep-train"
    proc = subprocess.run(
        [str(exe), "task.window_steps=-5", *store_overrides(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "cellsweep-train: error: task.window_steps must be positive, got -5"
    ]


def test_an_unexpected_error_keeps_its_traceback_without_credentials(capsys) -> None:
    """A bug still shows its traceback (exit 1), but a URI quoted in it loses its password."""
    from cellsweep.cli_errors import run_cli

    def broken() -> None:
        raise RuntimeError("API request to http://alice:hunter2@10.0.0.5:5000/api failed")

    with pytest.raises(SystemExit) as exit_info:
        run_cli("cellsweep-train", broken)
    err = capsys.readouterr().err
    assert exit_info.value.code == 1
    assert "Traceback" in err and "RuntimeError" in err and "broken" in err
    assert "hunter2" not in err and "http://***@10.0.0.5:5000/api" in err


@pytest.mark.parametrize(
    ("raised", "code", "line"),
    [
        (KeyboardInterrupt("SIGTERM"), 130, "app: interrupted"),
        ("stop", 1, "app: stopped: 3 of 4 trials failed"),
    ],
)
def test_a_worker_told_to_stop_exits_without_a_line_of_its_own(
    raised, code, line, capsys, monkeypatch
) -> None:
    """The launching process says why a sweep stopped, once; the workers it started (and stops
    with SIGTERM) exit with the same code and print nothing (issue 25)."""
    from cellsweep.cli_errors import WORKER_ENV, run_cli
    from cellsweep.errors import SweepAborted

    exc = SweepAborted("3 of 4 trials failed") if raised == "stop" else raised

    def stopped() -> None:
        raise exc

    for worker, expected in ((False, line), (True, "")):
        if worker:
            monkeypatch.setenv(WORKER_ENV, "1")
        with pytest.raises(SystemExit) as exit_info:
            run_cli("app", stopped)
        assert exit_info.value.code == code
        assert capsys.readouterr().err.strip() == expected


def test_a_failed_trials_exception_goes_to_stderr_redacted(capsys) -> None:
    from cellsweep.cli_errors import report_trial_error

    try:
        raise RuntimeError("cannot reach postgresql://bob:s3cret@db/optuna")
    except RuntimeError as exc:
        report_trial_error(7, exc)
    err = capsys.readouterr().err
    assert err.startswith("[trial 7] failed:\nTraceback (most recent call last):")
    assert "RuntimeError: cannot reach" in err and "s3cret" not in err
