"""Delay (transduction-time) laws of the simulator: gamma, log-normal, and their mixtures.

A component is given by its mean and a ``shape`` k: the gamma law with shape k, or the
log-normal law with the same mean and coefficient of variation 1/√k, so that one number means
the same spread for both families. These are the ground truth of synthetic data (numpy/scipy);
the estimators' own families live in ``families.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from cellsweep.errors import ConfigError

FAMILIES = ("gamma", "lognormal")


@dataclass
class DelayComponent:
    """One pathway of the simulated delay: a gamma or log-normal, with its mean and weight."""

    family: str = "gamma"  # gamma | lognormal
    mean: float = 2.5
    shape: float = 10.0  # gamma shape k; log-normal with the same mean and cv = 1/sqrt(k)
    weight: float = 1.0

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ConfigError(f"delay family must be one of {FAMILIES}, got {self.family!r}")
        if not (self.mean > 0 and self.shape > 0 and self.weight > 0):
            raise ConfigError("delay components need mean, shape and weight > 0")

    def law(self) -> stats.rv_continuous:
        """The component as a scipy distribution, parametrized by mean and shape."""
        if self.family == "gamma":
            return stats.gamma(a=self.shape, scale=self.mean / self.shape)
        s2 = math.log1p(1.0 / self.shape)
        return stats.lognorm(s=math.sqrt(s2), scale=self.mean * math.exp(-s2 / 2))


class DelayLaw:
    """A finite mixture of components, weights normalized to 1."""

    def __init__(self, components: Sequence[DelayComponent]) -> None:
        if not components:
            raise ConfigError("the delay law needs at least one component")
        total = sum(c.weight for c in components)
        self.components = list(components)
        self.weights = np.array([c.weight / total for c in components])
        self.laws = [c.law() for c in components]

    def pdf(self, t: np.ndarray) -> np.ndarray:
        """The true f_τ, for the truth file and the error metrics."""
        return sum(w * law.pdf(t) for w, law in zip(self.weights, self.laws, strict=True))

    def cdf(self, t: np.ndarray) -> np.ndarray:
        """The true F_τ, for the truth file and the mean curve."""
        return sum(w * law.cdf(t) for w, law in zip(self.weights, self.laws, strict=True))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Delays of ``n`` molecules: the simulator's draws."""
        which = rng.choice(len(self.laws), size=n, p=self.weights)
        out = np.empty(n)
        for i, law in enumerate(self.laws):
            sel = which == i
            out[sel] = law.rvs(size=int(sel.sum()), random_state=rng)
        return out

    def modes(self, t: np.ndarray) -> list[float]:
        """Locations of the local maxima of the density on the grid ``t``."""
        return find_modes(t, self.pdf(t))


def find_modes(t: np.ndarray, f: np.ndarray, rel_height: float = 0.1) -> list[float]:
    """Locations of the local maxima of ``f`` above ``rel_height``·max, separated by a dip below
    90 % of the lower peak, so that numerical ripples on a plateau do not count as modes."""
    return [float(t[i]) for i in peak_indices(f, rel_height)]


def peak_indices(f: np.ndarray, rel_height: float = 0.1) -> list[int]:
    """Grid indices of the peaks ``find_modes`` reports."""
    f = np.asarray(f, dtype=float)
    if f.size < 3 or not np.isfinite(f).all() or f.max() <= 0:
        return []
    peaks = [i for i in range(1, f.size - 1) if f[i] >= f[i - 1] and f[i] > f[i + 1]]
    peaks = [i for i in peaks if f[i] >= rel_height * f.max()]
    kept: list[int] = []
    for i in peaks:
        if kept:
            j = kept[-1]
            dip = f[j : i + 1].min()
            if dip > 0.9 * min(f[i], f[j]):
                if f[i] > f[j]:
                    kept[-1] = i
                continue
        kept.append(i)
    return kept
