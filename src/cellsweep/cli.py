"""`cellsweep`: helper commands around the project's stores (training is `cellsweep-train`)."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cellsweep.cli_errors import run_cli
from cellsweep.errors import ConfigError
from cellsweep.extras import require
from cellsweep.paths import project_root
from cellsweep.tracking.run import UI_QUERY


def default_store() -> tuple[str, Path]:
    """The embedded store of conf/tracking/local.yaml: (backend URI, artifact root)."""
    from cellsweep.sweep.plugin.defaults import mlflow_store

    return mlflow_store(project_root())


def ui_command(host: str, port: int, backend: str | None, artifacts: str | None) -> list[str]:
    """The `mlflow ui` command line on the project's store, its folders created first."""
    store, art_root = default_store()
    backend = backend or store
    if backend.startswith("sqlite:///"):
        Path(backend[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    art = artifacts or str(art_root)
    if "://" not in art:
        Path(art).mkdir(parents=True, exist_ok=True)
    exe = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or shutil.which("mlflow")
    if exe is None:
        raise ConfigError(
            "the mlflow command is not installed in this environment (run make setup)"
        )
    return [
        exe,
        "ui",
        "--backend-store-uri",
        backend,
        "--default-artifact-root",
        art,
        "--host",
        host,
        "--port",
        str(port),
    ]


def stop_group(proc: subprocess.Popen, grace: float = 15.0) -> None:
    """SIGTERM to the server's process group (``mlflow ui`` runs its web server as a child),
    then SIGKILL whatever is left after ``grace`` seconds: no listener outlives the command."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if proc.poll() is not None and not _group_alive(proc.pid):
                return
            time.sleep(0.1)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _store_links(uri: str) -> list[tuple[str, str]]:
    """Each experiment's and study's runs table in the store, when it can be read (a store
    that does not exist yet, or a broken one, is the server's to report)."""
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///") :]).is_file():
        return []
    from cellsweep.tracking.page import store_links

    try:
        return store_links(uri)
    except Exception:
        return []


def cmd_ui(args: argparse.Namespace) -> int:
    """Serve the MLflow UI on the project's store; loopback only unless --host says otherwise.

    The server runs in its own process group; Ctrl-C (SIGINT) and SIGTERM to this command are
    passed on to the whole group, so stopping ``cellsweep ui`` (by hand, by a job scheduler or a
    service manager) stops the server and its workers too.
    """
    require("cellsweep ui", "ui")  # mlflow-skinny's `mlflow` command has no server
    cmd = ui_command(args.host, args.port, args.backend_store_uri, args.artifacts)
    print(f"MLflow UI for {cmd[3]}", flush=True)
    base = f"http://{args.host}:{args.port}/"
    for label, path in _store_links(cmd[3]):  # the runs tables: model training, not GenAI
        print(f"{label}: {base}{path}", flush=True)
    print(f"open {base}#/experiments{UI_QUERY}  (Ctrl-C to stop)", flush=True)
    env = dict(os.environ)
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    stopping: list[int] = []

    def forward(signum: int, frame: object) -> None:
        stopping.append(signum)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)

    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    old = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = proc.wait()
    finally:
        stop_group(proc)
        for sig, handler in old.items():
            signal.signal(sig, handler)
    return 0 if stopping else code


def _storage(args: argparse.Namespace):
    """The study storage to read; a journal file that does not exist is an error, not created."""
    from cellsweep.sweep.plugin.defaults import journal_path
    from cellsweep.sweep.study.storage import make_storage

    default = journal_path(project_root() / "sweeps")
    spec = args.storage
    if spec == "postgres":
        spec = os.environ.get("CELLSWEEP_OPTUNA_STORAGE")
        if not spec:
            raise ConfigError(
                "--storage postgres needs CELLSWEEP_OPTUNA_STORAGE in the environment"
            )
    if not (spec and "://" in spec) and not Path(spec or default).is_file():
        raise ConfigError(
            f"no study storage at {spec or default}: run cellsweep-train -m "
            "sweep=<name> first, or pass --storage"
        )
    return make_storage(spec, default)


def cmd_studies(args: argparse.Namespace) -> int:
    """List the studies in the storage with their trial counts and best values."""
    import optuna

    from cellsweep.sweep.study.identity import FINGERPRINT_ATTR, IDENTITY_ATTR

    summaries = optuna.get_all_study_summaries(_storage(args), include_best_trial=True)
    if not summaries:
        print("no studies yet: run cellsweep-train -m sweep=<name>")
    for s in sorted(summaries, key=lambda s: s.study_name):
        best = f", best {s.best_trial.values}" if s.best_trial is not None else ""
        dirs = ",".join(d.name.lower() for d in s.directions)
        fp = s.user_attrs.get(FINGERPRINT_ATTR)
        identity = s.user_attrs.get(IDENTITY_ATTR) or {}
        files = sorted(k.partition(".")[2] for k in identity if k.startswith("file."))
        what = f", fingerprint {fp}" if fp else ""
        what += f" (data: {', '.join(files)})" if files else ""
        print(f"{s.study_name}: {s.n_trials} trials ({dirs}){best}{what}")
    return 0


def cmd_best(args: argparse.Namespace) -> int:
    """Print the best value, params and MLflow run id of a study."""
    from cellsweep.adopt import load_study, summary_lines

    for line in summary_lines(load_study(_storage(args), args.study)):
        print(line)
    return 0


def cmd_adopt(args: argparse.Namespace) -> int:
    """Write an experiment file (cellsweep-train) or an overrides file (any other Hydra app)
    from the study's best trial, or trial ``--trial N``, and print the command that reruns it."""
    import shlex

    from cellsweep.adopt import (
        ADOPTED,
        adopted_name,
        adopted_yaml,
        load_study,
        overrides_yaml,
        pick_trial,
        plain_app,
        rerun_command,
    )
    from cellsweep.paths import config_dir

    study = load_study(_storage(args), args.study)
    trial = pick_trial(study, args.trial)
    name = adopted_name(study, trial, args.trial is not None)
    app = plain_app(trial)
    if app is not None:
        command = rerun_command(app, trial)
        out = Path(app["cwd"]) / "adopted" / f"{name}.overrides.yaml"
        text = overrides_yaml(study, trial, app, command)
        rerun = f"(from {app['cwd']}) {shlex.join(command)}"
    else:
        out = config_dir() / ADOPTED / f"{name}.yaml"
        text = adopted_yaml(study, trial, config_dir(), name)
        rerun = f"cellsweep-train experiment=adopted/{name}"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out}")
    print(f"rerun: {rerun}")
    return 0


def write_report(study: Any, out_dir: Path) -> list[Path]:
    """Write summary.json, trials.csv and the PNG plots; returns the paths written."""
    import json

    from cellsweep.sweep.report.summary import study_figures, study_summary, trials_table
    from cellsweep.sweep.study import attrs

    out_dir.mkdir(parents=True, exist_ok=True)
    objectives = study.user_attrs.get(attrs.OBJECTIVES) or ["value"]
    written = []
    summary = out_dir / "summary.json"
    summary.write_text(json.dumps(study_summary(study, objectives), indent=2, default=str) + "\n")
    written.append(summary)
    table = out_dir / "trials.csv"
    table.write_text(trials_table(study))
    written.append(table)
    for name, fig in study_figures(study, objectives).items():
        fig.savefig(out_dir / name)
        written.append(out_dir / name)
    return written


def cmd_report(args: argparse.Namespace) -> int:
    """Write a study's plots and trial table to a folder (no MLflow needed)."""
    from cellsweep.adopt import load_study

    require("cellsweep report", "plots")
    study = load_study(_storage(args), args.study)
    out = Path(args.out) if args.out else project_root() / "sweeps" / "reports" / study.study_name
    for path in write_report(study, out):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """One parser, so every subcommand takes --storage the same way."""
    parser = argparse.ArgumentParser(prog="cellsweep", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    ui = sub.add_parser("ui", help="start the MLflow UI on this project's store (127.0.0.1)")
    ui.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    ui.add_argument("--port", type=int, default=5000)
    ui.add_argument("--backend-store-uri", default=None, help="default: sqlite under mlruns/")
    ui.add_argument("--artifacts", default=None, help="default: mlruns/artifacts")
    ui.set_defaults(func=cmd_ui)
    for name, func, text in (
        ("studies", cmd_studies, "list the Optuna studies in the storage"),
        ("best", cmd_best, "best value, params and MLflow run of a study"),
        ("adopt", cmd_adopt, "an adopted config of the best trial (or --trial N) to rerun"),
        ("report", cmd_report, "write a study's plots and trial table (no MLflow)"),
    ):
        sp = sub.add_parser(name, help=text)
        if name != "studies":
            sp.add_argument(
                "study", nargs="?", default=None, help="default: the storage's one study"
            )
        sp.add_argument(
            "--storage",
            default=None,
            help="journal file, database URL, or postgres (= $CELLSWEEP_OPTUNA_STORAGE); "
            "default: sweeps/optuna.journal",
        )
        if name == "report":
            sp.add_argument("--out", default=None, help="default: sweeps/reports/<study>")
        if name == "adopt":
            sp.add_argument(
                "--trial", type=int, default=None, help="a complete trial's number (default: best)"
            )
        sp.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Console entry: bad input is one line and exit 2 (cli_errors.run_cli)."""
    args = build_parser().parse_args(argv)
    raise SystemExit(run_cli("cellsweep", lambda: args.func(args)))


if __name__ == "__main__":
    main()
