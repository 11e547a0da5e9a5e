"""One error family for bad user input.

Everything a user can get wrong (a config value, a path, a CSV) raises a ``ConfigError``. The
command-line entry points turn it into one line on stderr and exit code 2, so scripts and
schedulers can tell bad input (2) from a crash (1).
"""

from __future__ import annotations


class ConfigError(ValueError):
    """Bad user input: the message is a single line that names the offending key or file."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class DataError(ConfigError):
    """Input data (a CSV, a cache file) that cannot be used as given."""


class SweepAborted(RuntimeError):
    """A sweep stopped on purpose (too many failed trials): one line, exit code 1, records kept."""

    exit_code = 1


class UserInputExit(BaseException):
    """Carries a one-line user-error message out of a Hydra job.

    A BaseException, so Hydra's job runner does not catch it and print its own multi-line report;
    the console entry point prints the line and exits 2.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MissingExtra(ConfigError):
    """A feature whose optional extra is not installed: one line naming the extra, exit 2."""
