"""Turn bad input into one line on stderr and exit code 2, for every entry point."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from typing import TypeVar

from hydra.errors import (
    ConfigCompositionException,
    InstantiationException,
    MissingConfigException,
    OverrideParseException,
)
from omegaconf.errors import OmegaConfBaseException

from cellsweep.errors import ConfigError, SweepAborted, UserInputExit
from cellsweep.redact import redact_text

T = TypeVar("T")
# set in the worker processes a sweep starts (sweep/plugin/run.py): their launcher reports a stop
WORKER_ENV = "CELLSWEEP_SWEEP_WORKER"

USER_ERRORS = (
    ConfigError,
    ConfigCompositionException,
    MissingConfigException,
    OverrideParseException,
    InstantiationException,
    OmegaConfBaseException,
    FileNotFoundError,
)


def one_line(exc: BaseException) -> str:
    """The first line of an error and of its cause: enough to act on, short enough for logs."""
    parts: list[str] = []
    seen = 0
    while exc is not None and seen < 3:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        head = (lines[0] if lines else type(exc).__name__).rstrip(".")
        if not any(head in p for p in parts):
            parts.append(head)
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return ": ".join(parts).replace("\n", " ")


def user_message(exc: BaseException) -> str:
    """Our own config errors are already one line for the user; anything else is folded into one."""
    return str(exc) if isinstance(exc, ConfigError) else one_line(exc)


def run_cli(prog: str, fn: Callable[[], T]) -> T:
    """Call ``fn``: user errors exit 2 with one line, Ctrl-C 130; bugs keep their traceback,
    with every URI in it redacted (a library's message may quote one, password included)."""
    worker = os.environ.get(WORKER_ENV) == "1"
    try:
        return fn()
    except SweepAborted as exc:
        if not worker:  # the process that started this one says it once
            print(f"{prog}: stopped: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except UserInputExit as exc:
        print(f"{prog}: error: {exc.message}", file=sys.stderr)
        raise SystemExit(2) from None
    except USER_ERRORS as exc:
        print(f"{prog}: error: {user_message(exc)}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        if not worker:  # a worker is stopped by its launcher, which says why
            print(f"{prog}: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except Exception:
        print(redact_text(traceback.format_exc()), file=sys.stderr, end="")
        raise SystemExit(1) from None


def report_trial_error(number: int, exc: BaseException) -> None:
    """A failed trial's exception on stderr, traceback and all (redacted), as the stock plugin
    shows it; the trial fails and the sweep goes on (its reason is the progress line's)."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    print(f"[trial {number}] failed:\n{redact_text(text)}", file=sys.stderr, end="", flush=True)
