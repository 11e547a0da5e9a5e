"""Chemotactic sensitivity from microscopic models (Erban, arXiv:2509.12131)."""

from cellsweep.tasks.chemotaxis.workload import build, check

__all__ = ["build", "check"]
