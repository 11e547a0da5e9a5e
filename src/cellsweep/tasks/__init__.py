"""Workloads: plain Lightning, no Optuna, no MLflow (DESIGN.md §3)."""
