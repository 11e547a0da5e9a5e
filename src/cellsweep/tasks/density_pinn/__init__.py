"""Transduction-time densities from single-cell reporter traces (Jo et al., Patterns 2023)."""

from cellsweep.tasks.density_pinn.workload import build, check

__all__ = ["build", "check"]
