"""Each private Optuna/Hydra call of sweep/compat.py, exercised against the installed libraries:
an upgrade that renames or changes one fails here, not in the middle of a sweep."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import optuna
import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf
from optuna.trial import TrialState

from cellsweep.sweep import compat

SRC = Path(__file__).resolve().parents[1] / "src"


def quiet_study() -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))


def test_storage_and_trial_id_reach_the_stored_trial() -> None:
    study = quiet_study()
    study.ask()
    trial = study.ask()
    frozen = study.get_trials(deepcopy=False)[1]
    assert isinstance(compat.storage_of(study), optuna.storages.BaseStorage)
    assert compat.trial_id(trial) == compat.trial_id(frozen)  # a live trial and its record
    assert compat.trial_id(trial) != compat.trial_id(study.get_trials(deepcopy=False)[0])
    assert compat.stored_state(study, trial) == TrialState.RUNNING
    study.tell(trial, 1.0)
    assert compat.stored_state(study, trial) == TrialState.COMPLETE


def test_a_trial_this_process_did_not_ask_can_be_failed_once() -> None:
    study = quiet_study()
    trial = study.ask()
    frozen = study.get_trials(deepcopy=False)[0]
    compat.fail_trial_elsewhere(study, frozen, {"fail_reason": "stale", "retried": True})
    (stored,) = study.get_trials(deepcopy=False)
    assert stored.state == TrialState.FAIL
    assert stored.user_attrs == {"fail_reason": "stale", "retried": True}
    assert compat.stored_state(study, trial).is_finished()
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):  # the loser of a race
        compat.fail_trial_elsewhere(study, frozen, {"fail_reason": "again"})


def test_value_overrides_apply_as_hydra_applies_them() -> None:
    cfg = OmegaConf.create({"model": {"depth": 2, "act": "relu"}, "lr": 0.1})
    parsed = OverridesParser.create().parse_overrides(["model.depth=4", "lr=1e-3"])
    compat.apply_value_overrides(parsed, cfg)
    assert cfg == {"model": {"depth": 4, "act": "relu"}, "lr": 1e-3}


def test_overrides_dirname_is_hydras() -> None:
    parsed = OverridesParser.create().parse_overrides(["b=2", "a=1", "seed=3"])
    name = compat.overrides_dirname(parsed, kv_sep="=", item_sep=",", exclude_keys=["seed"])
    assert name == "a=1,b=2"


def test_a_failed_jobs_return_value_is_its_exception_not_raised() -> None:
    ok = JobReturn(status=JobStatus.COMPLETED)
    ok.return_value = 0.5
    assert compat.job_return_value(ok) == 0.5
    failed = JobReturn(status=JobStatus.FAILED)
    error = ValueError("boom")
    failed.return_value = error
    assert compat.job_return_value(failed) is error


def test_the_sweeper_guard_wraps_hydras_instantiate_sweeper(monkeypatch) -> None:
    # Hydra's plugin discovery imports our plugin, which installs the guard once per process:
    # let it happen before the method is swapped, so that the swap's undo puts the guarded
    # method back (discovered inside the swap, the guard would be lost for later tests)
    Plugins.instance()
    # the signature the wrapper forwards: keyword-only hydra_context, task_function, config
    params = inspect.signature(inspect.unwrap(Plugins.instantiate_sweeper)).parameters
    assert {"hydra_context", "task_function", "config"} <= set(params)
    assert all(
        params[k].kind is inspect.Parameter.KEYWORD_ONLY
        for k in ("hydra_context", "task_function", "config")
    )
    seen = []

    def original(self, *, hydra_context, task_function, config):
        seen.append(("built", config))
        return "sweeper"

    monkeypatch.setattr(Plugins, "instantiate_sweeper", original)
    compat.guard_sweeper_instantiation(lambda config: seen.append(("checked", config)))
    compat.guard_sweeper_instantiation(lambda config: seen.append(("twice", config)))  # no-op
    got = Plugins.instance().instantiate_sweeper(
        hydra_context=None, task_function=None, config="cfg"
    )
    assert got == "sweeper"
    assert seen == [("checked", "cfg"), ("built", "cfg")]


LIBRARIES = ("optuna", "hydra", "mlflow", "lightning", "pytorch_lightning", "submitit")
#: public names that start with an underscore: ``os._exit``, a namedtuple's ``_replace``...
PUBLIC_UNDERSCORED = {"_exit", "_replace", "_asdict", "_fields", "_make"}


def private_uses(path: Path) -> list[str]:
    """Each import of a library's ``_module`` (or ``_name``), and each ``obj._attr`` on an
    object that is not ``self`` or ``cls``: a private API, ours or a library's."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            root, *rest = name.split(".")
            if root in LIBRARIES and any(_private(part) for part in rest):
                found.append(f"{node.lineno}: import {name}")
        if isinstance(node, ast.Attribute) and _private(node.attr):
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                found.append(f"{node.lineno}: {ast.unparse(owner)}.{node.attr}")
    return found


def _private(name: str) -> bool:
    """``_x`` but not ``__x__`` (Python's), ``_x_`` (Hydra's ``_target_`` keys) or a public
    underscored name."""
    return name.startswith("_") and not name.endswith("_") and name not in PUBLIC_UNDERSCORED


def test_no_private_api_outside_the_compat_modules() -> None:
    """sweep/compat.py (Optuna, Hydra, submitit) and tracking/compat.py (MLflow) hold them all."""
    found = [
        f"{path.relative_to(SRC)}:{use}"
        for path in sorted(SRC.rglob("*.py"))
        if path.name != "compat.py"
        for use in private_uses(path)
    ]
    assert found == []


def test_the_guard_catches_private_imports_and_attributes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from mlflow.store.db.utils import _initialize_tables\n"
        "import hydra._internal.utils\n"
        "from optuna import _imports\n"
        "def f(study, self):\n"
        "    self._ok, study.__class__, node._target_, os._exit\n"
        "    return study._storage\n"
    )
    assert private_uses(bad) == [
        "1: import mlflow.store.db.utils._initialize_tables",
        "2: import hydra._internal.utils",
        "3: import optuna._imports",
        "6: study._storage",
    ]


def test_the_override_parser_keeps_the_stock_functions_and_swaps_one() -> None:
    calls = []

    def interval(start, end):
        calls.append((start, end))
        return ("mine", start, end)

    parser = compat.override_parser({"interval": interval})
    (override,) = parser.parse_overrides(["x=interval(1, 5)"])
    assert override.value() == ("mine", 1, 5) and calls == [(1, 5)]
    (choice,) = parser.parse_overrides(["y=choice(a, b)"])  # the stock ones are all there
    assert list(choice.sweep_iterator()) == ["a", "b"]


def test_a_submitit_result_file_reads_back(tmp_path: Path) -> None:
    from submitit.core.utils import cloudpickle_dump  # what submitit writes a result with

    cloudpickle_dump(("success", 7), tmp_path / "ok.pkl")
    cloudpickle_dump(("error", "Traceback...\nValueError: boom"), tmp_path / "bad.pkl")
    assert compat.submitit_result(tmp_path / "ok.pkl") == ("success", 7)
    assert compat.submitit_result(tmp_path / "bad.pkl")[0] == "error"


def test_the_basic_launchers_class_path_is_hydras_default() -> None:
    from hydra.core.config_store import ConfigStore
    from hydra.utils import get_class

    assert get_class(compat.BASIC_LAUNCHER).__name__ == "BasicLauncher"
    node = ConfigStore.instance().load("hydra/launcher/basic.yaml").node
    assert node._target_ == compat.BASIC_LAUNCHER
