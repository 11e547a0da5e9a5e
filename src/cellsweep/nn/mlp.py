"""A plain MLP whose depth, width and activation are config keys (the usual sweep targets)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from cellsweep.errors import ConfigError

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "softplus": nn.Softplus,
    "sigmoid": nn.Sigmoid,
}


def make_activation(name: str) -> nn.Module:
    """Activation by name; an unknown name is a config error, not a KeyError."""
    try:
        return _ACTIVATIONS[name.lower()]()
    except KeyError:
        known = ", ".join(sorted(_ACTIVATIONS))
        raise ConfigError(f"model.activation must be one of {known}, got {name!r}") from None


@dataclass
class MLPConfig:
    """conf/model/mlp.yaml."""

    depth: int = 3
    width: int = 32
    activation: str = "tanh"


class MLP(nn.Sequential):
    """``depth`` hidden layers of ``width`` units; depth 0 is an affine map."""

    def __init__(
        self, in_dim: int, out_dim: int, depth: int = 3, width: int = 32, activation: str = "tanh"
    ) -> None:
        if depth < 0:
            raise ConfigError(f"model.depth must be >= 0, got {depth}")
        if width <= 0:
            raise ConfigError(f"model.width must be positive, got {width}")
        layers: list[nn.Module] = []
        dim = in_dim
        for _ in range(depth):
            layers += [nn.Linear(dim, width), make_activation(activation)]
            dim = width
        layers.append(nn.Linear(dim, out_dim))
        super().__init__(*layers)

    @classmethod
    def from_config(cls, cfg: MLPConfig, in_dim: int = 1, out_dim: int = 1) -> MLP:
        """The network of a ``model`` config section."""
        return cls(in_dim, out_dim, cfg.depth, cfg.width, cfg.activation)
