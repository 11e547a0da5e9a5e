"""The paper's losses: L1 (first order in τ) and L2 (second order), in four forms.

Each form is a residual of the time-discretized (K-S) equation between snapshots of ρ̂:

- ``forward`` (L1):   ρ̂(t+τ) − ρ̂(t) − τ 𝓛ρ̂(t)
- ``trapezoid`` (L2): ρ̂(t+τ) − ρ̂(t) − (τ/2)(𝓛ρ̂(t) + 𝓛ρ̂(t+τ))   (the default L2)
- ``central`` (L2):   ρ̂(t+τ) − ρ̂(t−τ) − 2τ 𝓛ρ̂(t)
- ``taylor`` (L2):    ρ̂(t+τ) − ρ̂(t) − τ 𝓛ρ̂(t) − (τ²/2) 𝓛𝓛ρ̂(t)

The paper's exact L2 is not known (SCIENCE-chemotaxis.md), so the form is a config choice. The
loss is the mean over snapshot pairs of h Σ_i (r_i/τ)²: dividing by τ keeps its scale comparable
across windows without changing the minimizer.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from cellsweep.errors import ConfigError

FORM_ORDER = {"forward": 1, "trapezoid": 2, "central": 2, "taylor": 2}
DEFAULT_FORM = {1: "forward", 2: "trapezoid"}


def resolve_form(order: int, form: str) -> str:
    """``form: auto`` picks the default of the order; an explicit form must match the order."""
    if order not in DEFAULT_FORM:
        raise ConfigError(f"task.loss.order must be 1 or 2, got {order}")
    if form == "auto":
        return DEFAULT_FORM[order]
    if form not in FORM_ORDER:
        raise ConfigError(
            f"task.loss.form must be auto or one of {sorted(FORM_ORDER)}, got {form!r}"
        )
    if FORM_ORDER[form] != order:
        raise ConfigError(f"task.loss.form={form} is of order {FORM_ORDER[form]}, not {order}")
    return form


def residual(
    form: str,
    op: Callable[[torch.Tensor], torch.Tensor],
    rho0: torch.Tensor,
    rho1: torch.Tensor,
    tau: float,
    rho_prev: torch.Tensor | None = None,
) -> torch.Tensor:
    """Residual of one form for a batch of snapshot pairs (ρ̂(t), ρ̂(t+τ)) [, ρ̂(t−τ)]."""
    if form == "forward":
        return rho1 - rho0 - tau * op(rho0)
    if form == "trapezoid":
        return rho1 - rho0 - 0.5 * tau * (op(rho0) + op(rho1))
    if form == "central":
        if rho_prev is None:
            raise ValueError("the central form needs ρ̂(t − τ)")
        return rho1 - rho_prev - 2.0 * tau * op(rho0)
    if form == "taylor":
        l0 = op(rho0)
        return rho1 - rho0 - tau * l0 - 0.5 * tau * tau * op(l0)
    raise ValueError(f"unknown loss form {form!r}")


def pair_loss(r: torch.Tensor, tau: float, h: float) -> torch.Tensor:
    """Mean over pairs of h Σ_i (r_i/τ)²."""
    return ((r / tau) ** 2).sum(-1).mean() * h
