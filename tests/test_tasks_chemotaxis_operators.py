"""The finite-volume 𝓛_S operator and the L1/L2 losses."""

from __future__ import annotations

import math

import pytest
import torch

from cellsweep.errors import ConfigError
from cellsweep.tasks.chemotaxis.fields import Sensitivity, Signal
from cellsweep.tasks.chemotaxis.losses import pair_loss, residual, resolve_form
from cellsweep.tasks.chemotaxis.operators import (
    apply_operator,
    bin_centers,
    face_positions,
    generator_matrix,
)

SIG, SENS, D = Signal(), Sensitivity("sine", 1.0, 1.0), 1.0


def _velocity(bins: int) -> torch.Tensor:
    faces = face_positions(1.0, bins)
    return SENS(SIG.c(faces)) * SIG.dc(faces)


def test_mass_is_conserved_exactly() -> None:
    torch.manual_seed(0)
    rho = torch.rand(7, 40, dtype=torch.float64)
    out = apply_operator(rho, torch.randn(39, dtype=torch.float64), 0.7, 1 / 40)
    assert out.sum(-1).abs().max() < 1e-10


def test_matrix_form_matches_operator() -> None:
    v = _velocity(30)
    rho = torch.rand(5, 30, dtype=torch.float64)
    A = generator_matrix(v, D, 1 / 30)
    torch.testing.assert_close(rho @ A.T, apply_operator(rho, v, D, 1 / 30))


def test_stationary_density_is_a_near_null_vector_with_second_order_error() -> None:
    """𝓛_S exp(Φ(c)/D) → 0 at rate h² inside (and h in the two wall cells) as bins refine."""
    inner, wall = [], []
    for bins in (25, 50, 100):
        x = bin_centers(1.0, bins)
        rho = torch.exp(SENS.potential(SIG.c(x)) / D)
        out = apply_operator(rho, _velocity(bins), D, 1 / bins).abs()
        inner.append(float(out[1:-1].max()))
        wall.append(float(out[[0, -1]].max()))
    assert inner[0] / inner[1] == pytest.approx(4.0, rel=0.25)
    assert inner[1] / inner[2] == pytest.approx(4.0, rel=0.25)
    assert wall[0] / wall[1] > 1.7 and wall[1] / wall[2] > 1.7  # at least first order


def test_matches_the_continuous_operator_in_the_interior() -> None:
    """For ρ = 2 + cos(πx) (no-flux at the walls) compare with −∂x(−Dρ' + vρ)."""
    bins = 200
    x = bin_centers(1.0, bins)
    rho = 2 + torch.cos(math.pi * x)
    v = SENS(SIG.c(x))  # c' = 1
    dv = math.pi * torch.cos(math.pi * x)
    drho = -math.pi * torch.sin(math.pi * x)
    d2rho = -(math.pi**2) * torch.cos(math.pi * x)
    exact = D * d2rho - (dv * rho + v * drho)
    approx = apply_operator(rho, _velocity(bins), D, 1 / bins)
    interior = slice(5, -5)
    assert (approx[interior] - exact[interior]).abs().max() < 1e-3 * exact.abs().max()


def _trajectory(tau: float, bins: int = 40):
    """Exact semi-discrete solution ρ(t) = e^{tA} ρ0 at t0 − τ, t0, t0 + τ."""
    v = _velocity(bins)
    A = generator_matrix(v, D, 1 / bins)
    rho0 = torch.ones(bins, dtype=torch.float64)
    at = [torch.linalg.matrix_exp(t * A) @ rho0 for t in (0.02 - tau, 0.02, 0.02 + tau)]
    return (lambda r: apply_operator(r, v, D, 1 / bins)), at


@pytest.mark.parametrize(
    "form, order", [("forward", 1), ("trapezoid", 2), ("central", 2), ("taylor", 2)]
)
def test_loss_forms_have_their_order(form: str, order: int) -> None:
    """The per-τ residual of each form shrinks like τ^order on an exact trajectory."""
    sizes = []
    for tau in (2e-3, 1e-3):
        op, (prev, now, nxt) = _trajectory(tau)
        r = residual(form, op, now[None], nxt[None], tau, prev[None])
        sizes.append(float(r.norm()) / tau)
    assert sizes[0] / sizes[1] == pytest.approx(2.0**order, rel=0.15)


def test_loss_is_zero_for_a_perfect_fit_and_positive_otherwise() -> None:
    op, (_, now, nxt) = _trajectory(1e-3)
    r = residual("trapezoid", op, now[None], nxt[None], 1e-3)
    wrong = residual("trapezoid", lambda x: 1.1 * op(x), now[None], nxt[None], 1e-3)
    assert pair_loss(wrong, 1e-3, 1 / 40) > 100 * pair_loss(r, 1e-3, 1 / 40)


def test_form_resolution() -> None:
    assert resolve_form(1, "auto") == "forward"
    assert resolve_form(2, "auto") == "trapezoid"
    assert resolve_form(2, "central") == "central"
    for order, form in ((1, "trapezoid"), (3, "auto"), (2, "simpson")):
        with pytest.raises(ConfigError):
            resolve_form(order, form)
