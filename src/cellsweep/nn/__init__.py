"""Network blocks shared by the workloads."""

from cellsweep.nn.mlp import MLP, make_activation

__all__ = ["MLP", "make_activation"]
