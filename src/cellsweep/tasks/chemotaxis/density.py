"""Empirical densities on bins, from the simulators' fine histograms.

Simulations record counts on a fine grid (``record_bins``); the estimator's bin count M is a
hyperparameter, so coarse densities are made by summing groups of fine bins. That keeps one cached
simulation valid for every M that divides ``record_bins``.
"""

from __future__ import annotations

import numpy as np
import torch

from cellsweep.errors import ConfigError


def check_bins(bins: int, fine: int) -> None:
    """The estimator's bins are sums of the recorded fine bins, so ``bins`` must divide them:
    checked from the config for simulated data, and again on the columns a CSV has."""
    if bins <= 1 or fine % bins:
        raise ConfigError(
            f"task.bins ({bins}) must be > 1 and divide task.sim.record_bins ({fine})"
        )


def rebin(counts: np.ndarray, bins: int) -> np.ndarray:
    """Sum groups of fine bins: [T, R] -> [T, bins]; ``bins`` must divide R."""
    fine = counts.shape[-1]
    check_bins(bins, fine)
    return counts.reshape(*counts.shape[:-1], bins, fine // bins).sum(-1)


def to_density(counts: np.ndarray, length: float) -> torch.Tensor:
    """ρ̂ = counts / (Σ counts · h) per snapshot, so Σ ρ̂ h = 1 (float64: we difference noise).

    For simulated counts Σ counts = N; CSV rows (counts or densities) get the same normalization.
    """
    h = length / counts.shape[-1]
    values = torch.as_tensor(counts, dtype=torch.float64)
    return values / (values.sum(-1, keepdim=True) * h)
