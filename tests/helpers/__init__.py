"""Helpers shared by the test modules (plain functions; the fixtures are in ``conftest.py``).

- ``helpers.run``: the project root, the tiny chemotaxis config, stores under ``tmp_path``,
  ``cellsweep-train`` in-process.
- ``helpers.sweep``: a tiny study's arguments, its Optuna study and MLflow runs.
- ``helpers.servers``: free loopback ports and short-lived servers (``mlflow server``, the UI).
"""
