"""The end-of-study plots, drawn by a process started with the study.

Importing the plotting stack (matplotlib, Optuna's visualization, and the scikit-learn that
Optuna's fANOVA importance pulls in) takes seconds; drawing takes a fraction of that. So the main
process starts this module as a child when the study starts: it imports while the trials run
(on a core the one-threaded trials leave free) and then waits. At the end the main process sends
one line, the child loads the finished study from the storage, writes the PNGs into a folder and
answers with their names. Whatever goes wrong (no answer in time, a crash, a storage only the
main process can see) the caller draws the plots itself, as before: a plot is never lost to this.

Protocol, one JSON line each way: ``{"storage", "default_storage", "study", "objectives",
"out"}`` in, ``{"figures": [names]}`` or ``{"error": "..."}`` out.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
WAIT_S = 120.0  # the most the end of a study waits for the child's figures
NICE = 5  # a third of a worker's share of a busy core while both want it


class FigureProcess:
    """A child that has imported the plotting stack and will draw one study's figures."""

    def __init__(self) -> None:
        env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cellsweep.sweep.report.figure_process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )

    def draw(
        self,
        storage: str | None,
        default_storage: Path,
        study: str,
        objectives: list[str],
        out: Path,
        wait_s: float = WAIT_S,
    ) -> dict[str, Path] | None:
        """The figures' files by name, or None when the child could not draw them."""
        job = {
            "storage": storage,
            "default_storage": str(default_storage),
            "study": study,
            "objectives": objectives,
            "out": str(out),
        }
        try:
            answer, _ = self.proc.communicate(json.dumps(job) + "\n", timeout=wait_s)
        except (subprocess.TimeoutExpired, OSError) as exc:
            log.warning("the figure process did not answer (%s): drawing here", type(exc).__name__)
            self.close()
            return None
        lines = [line for line in answer.splitlines() if line]
        try:
            reply = json.loads(lines[-1]) if lines else {"error": f"exit {self.proc.returncode}"}
        except json.JSONDecodeError:
            reply = {"error": lines[-1][:200]}
        if "figures" not in reply:
            log.warning("the figure process failed (%s): drawing here", reply.get("error"))
            return None
        return {name: out / name for name in reply["figures"]}

    def close(self) -> None:
        """Stop the child if it is still waiting (a study that ends without figures)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class NoFigureProcess(FigureProcess):
    """Where no child was started: every draw is left to the caller, in-process."""

    def __init__(self) -> None:
        pass

    def draw(self, *args: Any, **kwargs: Any) -> dict[str, Path] | None:
        """Nothing drawn here."""
        return None

    def close(self) -> None:
        """No child to stop."""


NO_FIGURE_PROCESS = NoFigureProcess()


def start() -> FigureProcess:
    """The child, or ``NO_FIGURE_PROCESS`` where it cannot start (the caller then draws) or
    there is nothing to draw with (no matplotlib: the core install)."""
    if importlib.util.find_spec("matplotlib") is None:
        return NO_FIGURE_PROCESS
    try:
        return FigureProcess()
    except OSError as exc:
        log.warning("could not start the figure process: %s", exc)
        return NO_FIGURE_PROCESS


def _serve() -> int:
    """The child's side: import, then draw the one study asked for."""
    # Ctrl-C is the main process's to handle; it still asks for the plots of what finished
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # its imports yield to the workers starting beside it on shared cores
    with contextlib.suppress(OSError, AttributeError):
        os.nice(NICE)
    import matplotlib

    matplotlib.use("Agg")
    import optuna
    import optuna.importance  # fANOVA imports scikit-learn: the slow import
    from optuna.visualization import matplotlib as _ovm  # noqa: F401

    from cellsweep.sweep.report.summary import study_figures
    from cellsweep.sweep.study.storage import make_storage

    line = sys.stdin.readline()
    if not line.strip():
        return 0  # the study ended without asking (Ctrl-C, an error): nothing to draw
    try:
        job = json.loads(line)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage = make_storage(job["storage"], Path(job["default_storage"]))
        study = optuna.load_study(study_name=job["study"], storage=storage)
        out = Path(job["out"])
        out.mkdir(parents=True, exist_ok=True)
        names = []
        for name, fig in study_figures(study, job["objectives"]).items():
            fig.savefig(out / name, format="png")
            names.append(name)
        print(json.dumps({"figures": names}), flush=True)
    except Exception as exc:  # the caller draws the plots itself
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"[:500]}), flush=True)
        return 1
    return 0


if __name__ == "__main__":
    code = _serve()
    sys.stdout.flush()
    # the answer is out and the files are closed: skip the interpreter's teardown of the plotting
    # stack (~0.4 s), which the main process would otherwise wait for at the end of the study
    os._exit(code)
