"""Param keys MLflow accepts, whatever a search space calls its keys (README, "Param names")."""

from __future__ import annotations

import pytest
from mlflow.utils.validation import _validate_param_name

from cellsweep.tracking.params import MAX_KEY, mlflow_key, mlflow_params


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("model.lr", "model.lr"),
        ("train/loss", "train/loss"),
        ("+w", "w"),
        ("++model.dropout", "model.dropout"),
        ("~penalty", "penalty"),
        ("db@backup", "db_backup"),
        ("a=b,c", "a_b_c"),
        ("a//b", "a__b"),
        ("/abs", "_abs"),
        ("../up", "_.._up"),
        (".", "_."),
        ("+", "_"),
        ("x" * 300, "x" * MAX_KEY),
    ],
)
def test_override_style_names_become_keys_mlflow_accepts(name, key) -> None:
    assert mlflow_key(name) == key
    _validate_param_name(key)  # MLflow's own check: raises on a key it refuses


def test_names_that_map_to_one_key_keep_both_values() -> None:
    assert mlflow_params({"x": 1, "+x": 2, "y": None}) == {"x": "1", "x_": "2", "y": "null"}
