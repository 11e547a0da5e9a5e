"""The fixed signal c(x) and the chemotactic sensitivity S(c), as torch-friendly callables.

Both work on tensors of any shape and device, so the same objects serve the particle simulators
(millions of positions) and the estimator (a few hundred bin faces).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from cellsweep.errors import ConfigError


@dataclass
class Signal:
    """c(x) = offset + slope·x + curvature·x², fixed in time."""

    offset: float = 0.0
    slope: float = 1.0
    curvature: float = 0.0

    def c(self, x: torch.Tensor) -> torch.Tensor:
        """c(x): the signal level the sensitivity S is a function of."""
        out = x * self.slope + self.offset
        if self.curvature:
            out = out + self.curvature * x * x
        return out

    def dc(self, x: torch.Tensor) -> torch.Tensor:
        """c'(x): the drift is S(c)·c'(x), so the losses need it at the faces."""
        if self.curvature:
            return 2.0 * self.curvature * x + self.slope
        return torch.full_like(x, self.slope)

    def c_range(self, length: float) -> tuple[float, float]:
        """Range of c over [0, length]: the levels that particles can visit."""
        xs = torch.linspace(0.0, length, 1001, dtype=torch.float64)
        cs = self.c(xs)
        return float(cs.min()), float(cs.max())

    @property
    def is_linear(self) -> bool:
        """A linear signal makes c'(x) constant, which some checks and limits assume."""
        return self.curvature == 0.0


@dataclass
class Sensitivity:
    """S(c): ``constant`` (a), ``linear`` (a + b·c) or ``sine`` (a + b·sin(π c)).

    ``sine`` with a = b = 1 is the reference of SCIENCE-chemotaxis.md.
    """

    kind: str = "sine"
    a: float = 1.0
    b: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in {"constant", "linear", "sine"}:
            raise ConfigError(
                f"sensitivity.kind must be constant, linear or sine, got {self.kind!r}"
            )

    def __call__(self, c: torch.Tensor) -> torch.Tensor:
        if self.kind == "constant":
            return torch.full_like(c, self.a)
        if self.kind == "linear":
            return c * self.b + self.a
        return torch.sin(c * math.pi) * self.b + self.a

    def potential(self, c: torch.Tensor) -> torch.Tensor:
        """Φ(c) with Φ' = S and Φ(0) = 0: the stationary density is ∝ exp(Φ(c(x))/D)."""
        if self.kind == "constant":
            return self.a * c
        if self.kind == "linear":
            return self.a * c + 0.5 * self.b * c * c
        return self.a * c + self.b * (1.0 - torch.cos(math.pi * c)) / math.pi
