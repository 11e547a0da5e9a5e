"""Network blocks shared by the workloads."""

from cellsweep.nn.mlp import MLP, MLPConfig, make_activation

__all__ = ["MLP", "MLPConfig", "make_activation"]
