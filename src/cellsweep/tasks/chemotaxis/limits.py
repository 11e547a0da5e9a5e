"""Analytic macroscopic limits of Models I–III: the ground truth that estimates are judged by.

Model I's density obeys (K-S) exactly (as Δt → 0) with the given D and S.

Model II (run and tumble, λ_± = λ0 (1 ∓ β c')): the Cattaneo/telegraph system for right- and
left-movers gives, in the parabolic limit (λ0 → ∞ with s²/λ0 fixed), D = s²/(2λ0) and S = s β.

Model III (internal adaptation, dy/dt = (c − y)/t_a, λ = λ0 − b z with z = c(X) − y).
Derivation (moment closure, after Erban & Othmer, SIAM J. Appl. Math. 65 (2004) 361–391):
along a path with direction σ, dz/dt = σ s c'(x) − z/t_a. Let n_± be the densities of right and
left movers and q_± = ∫ z p_±(x, z) dz their first z-moments. Integrating the kinetic equations
over z, and dropping second z-moments (O(c'²): the shallow-gradient closure),

    ∂t n_± ± s ∂x n_± = ∓ [λ0 (n_+ − n_−) − b (q_+ − q_−)]
    ∂t q_± ± s ∂x q_± = ± s c' n_± − q_±/t_a ∓ λ0 (q_+ − q_−).

With ρ = n_+ + n_−, j = s (n_+ − n_−) and m = q_+ − q_−:

    ∂t ρ + ∂x j = 0,   ∂t j + s² ∂x ρ = −2 λ0 j + 2 b s m,   ∂t m + s ∂x(q_+ + q_−) =
    s c' ρ − (1/t_a + 2 λ0) m.

In the parabolic scaling the relaxation terms dominate (∂t j, ∂t m and ∂x(q_+ + q_−) are of
higher order), so m = s c' ρ t_a / (1 + 2 λ0 t_a) and

    j = −D ∂x ρ + S c' ρ,    D = s²/(2λ0),    S = b s² t_a / (λ0 (1 + 2 λ0 t_a)).

The test suite checks this through the stationary density of the simulator (log-slope S/D for
c = x) and through the drift of the population in free space.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from cellsweep.tasks.chemotaxis.simulate import SimConfig


def parabolic_diffusion(cfg: SimConfig) -> float:
    """D of the limiting (K-S) equation."""
    if cfg.model == 1:
        return cfg.diffusion
    return cfg.speed**2 / (2.0 * cfg.turn_rate)


def model3_sensitivity(cfg: SimConfig) -> float:
    """S = b s² t_a / (λ0 (1 + 2 λ0 t_a)): Model III's constant parabolic-limit sensitivity."""
    ta, lam0 = cfg.adapt_time, cfg.turn_rate
    return cfg.adapt_gain * cfg.speed**2 * ta / (lam0 * (1.0 + 2.0 * lam0 * ta))


def parabolic_sensitivity(cfg: SimConfig) -> Callable[[torch.Tensor], torch.Tensor]:
    """S(c) of the limiting (K-S) equation (Model II is parametrized so that S = s β)."""
    if cfg.model in (1, 2):
        return cfg.sensitivity
    value = model3_sensitivity(cfg)
    return lambda c: torch.full_like(c, value)


def stationary_density(cfg: SimConfig, x: torch.Tensor) -> torch.Tensor:
    """ρ∞(x) ∝ exp(Φ(c(x))/D) with Φ' = S, normalized on [0, L] (trapezoid on a fine grid)."""
    D = parabolic_diffusion(cfg)
    fine = torch.linspace(0.0, cfg.length, 20001, dtype=torch.float64)
    S = parabolic_sensitivity(cfg)
    if cfg.model == 3:
        phi_fine = model3_sensitivity(cfg) * cfg.signal.c(fine)
        phi_x = model3_sensitivity(cfg) * cfg.signal.c(x.double())
    else:
        phi_fine = S.potential(cfg.signal.c(fine))  # type: ignore[union-attr]
        phi_x = S.potential(cfg.signal.c(x.double()))  # type: ignore[union-attr]
    norm = torch.trapezoid(torch.exp(phi_fine / D), fine)
    return torch.exp(phi_x / D) / norm
