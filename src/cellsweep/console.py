"""What a sweep prints: one line per trial, not the libraries' notices once per trial.

Lightning tells every new ``Trainer`` the same things ("GPU available", the litlogger tip, the
``srun`` hint, a torch deprecation inside its own code): a study of 30 trials printed each 30
times, and each worker process again (issue 24: 838 KB of console for 8 trials). A sweep shows
each such notice once per process, and its spawned workers none: the lead already showed them.
This works on the named loggers and Python's warning filters, so a notice is dropped where it is
emitted, and what goes to a trial's own log file is untouched. Knows library names, imports none.
"""

from __future__ import annotations

import logging
import warnings

# the loggers Lightning's notices come through (rank_zero_info, the accelerator's device line)
NOTICE_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning.fabric.utilities.rank_zero",
    "lightning.pytorch.accelerators.cuda",
    "pytorch_lightning.utilities.rank_zero",
    "lightning_fabric.utilities.rank_zero",
)
# the modules whose warnings are notices about the setup, not about the trial
NOTICE_MODULES = r"(lightning|pytorch_lightning|lightning_fabric|lightning_utilities)(\.|$)"


class OncePerProcess(logging.Filter):
    """Passes each distinct message of a logger once in this process."""

    def __init__(self) -> None:
        super().__init__("cellsweep.once")
        self.seen: set[tuple[str, str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.getMessage())
        if key in self.seen:
            return False
        self.seen.add(key)
        return True


def quiet_notices(worker: bool) -> None:
    """Library notices once in this process (the lead), or none (a spawned worker: its lead
    shows them). Idempotent: a second call adds no second filter.

    Warnings go through logging (``py.warnings``, so a trial's log file keeps them too) and pass
    there once: the warning filters' own "once" cannot do it, as CPython keys it on the emitting
    module's registry, which is cleared whenever any code changes the filters (Lightning, Optuna
    and Hydra do, within every trial)."""
    loggers = [logging.getLogger(name) for name in NOTICE_LOGGERS]
    if worker:
        warnings.filterwarnings("ignore", module=NOTICE_MODULES)
        for logger in loggers:
            logger.setLevel(logging.WARNING)
        # "Using an existing study": the lead said which study it is
        logging.getLogger("optuna").setLevel(logging.WARNING)
    logging.captureWarnings(True)
    for logger in [*loggers, logging.getLogger("py.warnings")]:
        if not any(isinstance(f, OncePerProcess) for f in logger.filters):
            logger.addFilter(OncePerProcess())
