"""The finite-volume operator 𝓛_S of (K-S) on M equal bins with no-flux walls.

ρ_t = 𝓛_S ρ = −∂x F with F = −D ∂x ρ + v ρ, v(x) = S(c(x)) c'(x). Fluxes live on the M − 1
interior faces (central differences, face density the mean of its neighbours) and are zero at both
walls, so Σ_i (𝓛_S ρ)_i = 0 exactly: mass is conserved to round-off.
"""

from __future__ import annotations

import torch


def face_positions(length: float, bins: int, dtype=torch.float64) -> torch.Tensor:
    """The M − 1 interior faces x_{i+1/2}."""
    h = length / bins
    return torch.arange(1, bins, dtype=dtype) * h


def bin_centers(length: float, bins: int, dtype=torch.float64) -> torch.Tensor:
    """Where the bins' densities live: the operators act on these points."""
    h = length / bins
    return (torch.arange(bins, dtype=dtype) + 0.5) * h


def apply_operator(rho: torch.Tensor, v_faces: torch.Tensor, D, h: float) -> torch.Tensor:
    """𝓛_S ρ for a batch ρ [..., M], face velocities v [M − 1] and diffusion D (float or tensor)."""
    flux = -D * (rho[..., 1:] - rho[..., :-1]) / h + v_faces * 0.5 * (rho[..., 1:] + rho[..., :-1])
    zero = torch.zeros_like(flux[..., :1])
    full = torch.cat([zero, flux, zero], dim=-1)
    return -(full[..., 1:] - full[..., :-1]) / h


def generator_matrix(v_faces: torch.Tensor, D, h: float) -> torch.Tensor:
    """The M×M matrix A with A ρ = 𝓛_S ρ (for exact propagation by a matrix exponential)."""
    bins = v_faces.shape[-1] + 1
    eye = torch.eye(bins, dtype=v_faces.dtype, device=v_faces.device)
    return apply_operator(eye, v_faces, D, h).T
