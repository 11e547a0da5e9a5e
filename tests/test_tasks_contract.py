"""The workload contract (tasks/base.py): how ``task._target_`` finds a workload, and that
``check`` refuses what it can without data."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from cellsweep.errors import ConfigError
from cellsweep.tasks import chemotaxis, density_pinn
from cellsweep.tasks.base import TaskCfg, Workload, resolve_workload
from cellsweep.tasks.chemotaxis import data as chemo_data
from cellsweep.tasks.chemotaxis.config import ChemotaxisCfg
from cellsweep.tasks.density_pinn.config import DensityPinnCfg
from cellsweep.tasks.tables import columns_csv


@pytest.mark.parametrize(
    ("target", "workload"),
    [
        ("cellsweep.tasks.chemotaxis", chemotaxis),
        ("cellsweep.tasks.chemotaxis.build", chemotaxis),  # the built-in configs' form
        ("cellsweep.tasks.density_pinn.build", density_pinn),
    ],
)
def test_target_names_a_workload(target, workload) -> None:
    found = resolve_workload(target)
    assert found is workload and isinstance(found, Workload)


@pytest.mark.parametrize(
    ("target", "needle"),
    [
        (None, "must name the workload"),
        ("cellsweep.tasks.nosuch", "cannot be imported"),
        ("nosuchpackage.build", "cannot be imported"),
        ("cellsweep.tasks.base", "is no workload"),  # a module without check and build
        ("math.sqrt", "is no workload"),
    ],
)
def test_a_target_that_is_no_workload_is_one_config_error(target, needle) -> None:
    with pytest.raises(ConfigError, match=needle):
        resolve_workload(target)


def test_task_configs_derive_name_and_objective_from_the_base() -> None:
    for cls in (ChemotaxisCfg, DensityPinnCfg):
        assert issubclass(cls, TaskCfg)
        assert "name" not in cls.__annotations__ and "objective" not in cls.__annotations__


def test_check_refuses_bins_that_do_not_divide_record_bins_without_simulating(
    monkeypatch,
) -> None:
    def never(*args, **kwargs):
        raise AssertionError("check() must not simulate")

    monkeypatch.setattr(chemo_data, "simulate", never)
    with pytest.raises(ConfigError, match=r"task\.bins \(7\).*record_bins \(600\)"):
        chemotaxis.check(task={"bins": 7}, model={})
    with pytest.raises(ConfigError, match=r"task\.bins"):
        chemotaxis.check(task={"bins": 1}, model={})
    chemotaxis.check(task={"bins": 60}, model={})  # 60 divides 600


def test_density_estimators_share_one_base_and_one_estimates_signature() -> None:
    from cellsweep.tasks.density_pinn.authors_module import AuthorsPINN
    from cellsweep.tasks.density_pinn.auto_module import AutoFamilyPINN
    from cellsweep.tasks.density_pinn.estimator import DensityEstimator
    from cellsweep.tasks.density_pinn.likelihood_module import LikelihoodPINN

    classes = (LikelihoodPINN, AutoFamilyPINN, AuthorsPINN)
    assert all(issubclass(cls, DensityEstimator) for cls in classes)
    signatures = {str(inspect.signature(cls.estimates)) for cls in classes}
    assert signatures == {str(inspect.signature(DensityEstimator.estimates))}


def test_report_csv_is_one_format_for_every_workload() -> None:
    text = columns_csv({"t": np.array([0.0, 0.5]), "f": np.array([1.0, 1 / 3])})
    assert text == "t,f\n0,1\n0.5,0.33333333\n"


def test_check_asks_for_D_with_csv_data_before_any_file_is_read() -> None:
    csv = {"source": "csv", "train_csv": "/no/such/file.csv"}
    with pytest.raises(ConfigError, match=r"task\.estimator\.D or learn_D"):
        chemotaxis.check(task={"data": csv}, model={})
    chemotaxis.check(task={"data": csv, "estimator": {"learn_D": True}}, model={})
