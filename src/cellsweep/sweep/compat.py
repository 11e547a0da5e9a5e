"""Every private Optuna and Hydra call cellsweep makes, each behind one small named function.

The sweep needs a few things the libraries do not offer publicly: writing to another process's
trial (stale-trial retries), reading a trial's stored state while it runs, applying parsed
overrides to a composed config (the per-trial composition shortcut), a job's return value
(raised errors included), refusing the stock plugin's ``_target_`` before Hydra builds the
sweeper, an override parser whose ``interval`` keeps ints, and reading a submitit task's result
file without submitit's ``sacct`` polling. MLflow's private calls are the tracking layer's, in
``cellsweep.tracking.compat``. An upgrade that renames one of them breaks here, in one place, and
``tests/test_sweep_compat.py`` exercises each against the installed libraries.

Nothing here imports Optuna at module level: the Hydra plugin imports this module while Hydra
discovers plugins, for every app, and that must stay cheap.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


def storage_of(study: Any) -> Any:
    """The study's storage: Optuna has no public accessor, and retries write through it."""
    return study._storage


def trial_id(trial: Any) -> int:
    """A trial's storage id (not its number): what every storage write of Optuna takes."""
    return trial._trial_id


def stored_state(study: Any, trial: Any) -> Any:
    """The trial's state as the storage holds it now (another process may have failed it)."""
    return storage_of(study).get_trial(trial_id(trial)).state


def fail_trial_elsewhere(study: Any, trial: Any, attrs: dict[str, Any]) -> None:
    """Fail a RUNNING trial this process does not own (a dead worker's), with ``attrs`` set.

    ``Study.tell`` only takes trials this process asked; a stale one belongs to a dead worker.
    Raises Optuna's ``UpdateFinishedTrialError`` when another process finished it first.
    """
    from optuna.trial import TrialState

    storage, tid = storage_of(study), trial_id(trial)
    for key, value in attrs.items():
        storage.set_trial_user_attr(tid, key, value)
    storage.set_trial_state_values(tid, TrialState.FAIL)


def apply_value_overrides(parsed: list[Any], cfg: Any) -> None:
    """Hydra's own code for value overrides (``a.b=1``), applied to a composed config in place,
    so the composition shortcut behaves exactly as Hydra's full path does."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    ConfigLoaderImpl._apply_overrides_to_config(parsed, cfg)


def overrides_dirname(overrides: list[Any], kv_sep: str, item_sep: str, exclude_keys: Any) -> str:
    """``hydra.job.override_dirname`` as Hydra derives it, for a config composed by the
    shortcut (the function lives in Hydra's internal config loader)."""
    from hydra._internal.config_loader_impl import get_overrides_dirname

    return get_overrides_dirname(
        overrides=overrides, kv_sep=kv_sep, item_sep=item_sep, exclude_keys=exclude_keys
    )


def job_return_value(ret: Any) -> Any:
    """What the job returned, or the exception it raised: ``JobReturn.return_value`` re-raises
    the exception of a failed job, and the sweep must keep it as the trial's fail reason."""
    return ret._return_value


#: the ``_target_`` of Hydra's default launcher, which lives in Hydra's internal package
BASIC_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"
WRAPPED = "_cellsweep"


def guard_sweeper_instantiation(check: Callable[[Any], None]) -> None:
    """Run ``check(config)`` before Hydra builds any sweeper (once per process).

    A sweeper node that names another plugin's class fails inside Hydra before any code of the
    sweeper runs; wrapping ``Plugins.instantiate_sweeper`` is the one place to see it first.
    """
    from hydra.core.plugins import Plugins

    original = Plugins.instantiate_sweeper
    if getattr(original, WRAPPED, False):
        return

    @functools.wraps(original)
    def instantiate_sweeper(self: Any, *, hydra_context: Any, task_function: Any, config: Any):
        check(config)
        return original(
            self, hydra_context=hydra_context, task_function=task_function, config=config
        )

    setattr(instantiate_sweeper, WRAPPED, True)
    Plugins.instantiate_sweeper = instantiate_sweeper  # type: ignore[method-assign]


def override_parser(replace: dict[str, Callable[..., Any]]) -> Any:
    """Hydra's override parser with its stock functions (``interval``, ``choice``, ``tag``...),
    those named in ``replace`` swapped for ours. Hydra checks a call's arguments against the
    registered function's signature, so each replacement takes the stock one's. The registry's
    ``functions`` mapping and its empty constructor are not public API."""
    import inspect

    from hydra.core.override_parser.overrides_parser import OverridesParser, create_functions

    stock = create_functions()
    functions = type(stock)()
    for name, func in stock.functions.items():
        if name in replace:
            ours = replace[name]
            ours.__signature__ = inspect.signature(func)  # type: ignore[attr-defined]
            func = ours
        functions.register(name=name, func=func)
    return OverridesParser(functions=functions)


def submitit_result(path: Any) -> tuple[str, Any]:
    """A finished submitit task's ``(outcome, value)`` from its result file: ``("success",
    returned)`` or ``("error", traceback text)``. submitit reads it only behind ``sacct``, which
    many clusters lack; the file's format is submitit's own, not public API."""
    from submitit.core.utils import pickle_load

    kind, value = pickle_load(path)
    return str(kind), value
