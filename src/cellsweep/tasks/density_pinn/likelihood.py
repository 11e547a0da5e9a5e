"""The ODE's exact solution on a fine grid and the exact transition likelihood of traces.

Mean curve: with F_τ piecewise linear between grid points (a cumulative trapezoid of f_τ),
dy/dt = λ_b F_τ − λ_d y is integrated exactly over each sub-step (an exponential integrator),
so the reporter curve satisfies the ODE by construction, y(0) = 0.

Transitions (SCIENCE-density-pinn.md, fact 2): Y(t+h) | Y(t) = Binomial(Y(t), p) + Poisson(μ),
p = e^{−λ_d h}, μ = y(t+h) − p·y(t). ``PoissonTransitions`` sums this law exactly in log space;
``gaussian_transition_nll`` is its moment form for intensities, with a learned scale a.
``TransitionNLL`` scores one set of traces by either, for every estimator.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class MeanCurve(nn.Module):
    """Integrates the reporter ODE on ``sub`` steps per interval between observation times."""

    def __init__(self, times: torch.Tensor, sub: int) -> None:
        super().__init__()
        times = times.double()
        self.lead = bool(times[0] > 0)  # an unobserved interval [0, t_0] before the first time
        knots = torch.cat([times.new_zeros(1), times]) if self.lead else times
        h = torch.diff(knots) / sub  # [K-1]
        steps = torch.arange(sub, dtype=torch.float64)
        left = knots[:-1, None] + h[:, None] * steps  # [K-1, sub]
        grid = torch.cat([left.reshape(-1), knots[-1:]])
        self.sub = sub
        # derived from the times: not the model's state, so not in its state_dict (model.pt)
        self.register_buffer("knots", knots, persistent=False)
        self.register_buffer("h", h, persistent=False)
        self.register_buffer("grid", grid, persistent=False)
        self.register_buffer("steps", steps, persistent=False)

    def cdf(self, pdf_on_grid: torch.Tensor) -> torch.Tensor:
        """F_τ on the grid by cumulative trapezoid, F(0) = 0."""
        dx = torch.diff(self.grid)
        areas = 0.5 * dx * (pdf_on_grid[1:] + pdf_on_grid[:-1])
        return torch.cat([areas.new_zeros(1), torch.cumsum(areas, 0)])

    def transitions(
        self, pdf_on_grid: torch.Tensor, lambda_b: torch.Tensor, lambda_d: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(p, μ, y): survival and arrival mean per observed interval, y at observed times."""
        F = self.cdf(pdf_on_grid)
        n_int = self.h.numel()
        F0 = F[:-1].reshape(n_int, self.sub)
        F1 = F[1:].reshape(n_int, self.sub)
        x = lambda_d * self.h[:, None]  # [K-1, 1]
        em1 = -torch.expm1(-x)  # 1 − e^{−x}
        A = em1 / lambda_d
        C = (em1 - x * torch.exp(-x)) / lambda_d**2  # ∫_0^h (h−u)... second moment term
        B = self.h[:, None] * A - C  # ∫_0^h u e^{−λ(h−u)} du
        inc = lambda_b * (F0 * A + (F1 - F0) / self.h[:, None] * B)  # [K-1, sub]
        decay = torch.exp(-x * (self.sub - 1 - self.steps))  # to the end of the interval
        mu = (inc * decay).sum(-1)
        p = torch.exp(-lambda_d * self.h * self.sub)
        ys = [mu.new_zeros(())]
        for i in range(n_int):
            ys.append(p[i] * ys[-1] + mu[i])
        y = torch.stack(ys)
        if self.lead:
            return p[1:], mu[1:], y[1:]
        return p, mu, y


class PoissonTransitions(nn.Module):
    """−log P(Y(t+h) | Y(t)) of every observed transition of a set of count traces."""

    def __init__(self, counts: torch.Tensor) -> None:
        super().__init__()
        c = counts.double().round()
        a, b = c[:, :-1], c[:, 1:]  # [n, m]
        kmax = int(torch.minimum(a, b).max().item()) if a.numel() else 0
        k = torch.arange(kmax + 1, dtype=torch.float64)
        ak, bk = a[..., None], b[..., None]
        valid = k <= torch.minimum(ak, bk)
        const = (
            torch.lgamma(ak + 1)
            - torch.lgamma(k + 1)
            - torch.lgamma((ak - k).clamp_min(0) + 1)
            - torch.lgamma((bk - k).clamp_min(0) + 1)
        )
        # the data's constants ([cells, transitions, k], MBs): not model state, not in model.pt
        const = torch.where(valid, const, torch.full_like(const, -math.inf))
        self.register_buffer("const", const, persistent=False)
        self.register_buffer("k", k, persistent=False)
        self.register_buffer("a", a, persistent=False)
        self.register_buffer("b", b, persistent=False)

    def forward(self, p: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        """Per-transition negative log-likelihood, [n, m]."""
        mu = mu.clamp_min(1e-300)[None, :, None]
        logp = p.clamp(1e-300, 1 - 1e-16).log()[None, :, None]
        log1mp = torch.log1p(-p.clamp(0, 1 - 1e-16))[None, :, None]
        k, a, b = self.k, self.a[..., None], self.b[..., None]
        terms = self.const + k * logp + (a - k) * log1mp + (b - k) * mu.log() - mu
        return -torch.logsumexp(terms, -1)


def gaussian_transition_nll(
    values: torch.Tensor, p: torch.Tensor, mu: torch.Tensor, log_scale: torch.Tensor
) -> torch.Tensor:
    """Per-transition Gaussian NLL with the exact law's moments: mean p·X + μ, variance
    a·(p(1−p)·X + μ), a = e^{log_scale} (reporter units per molecule)."""
    x0, x1 = values[:, :-1], values[:, 1:]
    mean = p * x0 + mu
    var = log_scale.exp() * (p * (1 - p) * x0.clamp_min(0) + mu.clamp_min(0)) + 1e-9
    return 0.5 * (torch.log(2 * math.pi * var) + (x1 - mean) ** 2 / var)


class TransitionNLL(nn.Module):
    """Per-transition NLL of one set of traces under (p, μ): exact Poisson or Gaussian form."""

    def __init__(self, values: torch.Tensor, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.poisson = PoissonTransitions(values) if kind == "poisson" else None
        self.register_buffer("values", values.double(), persistent=False)  # data, not state

    @property
    def count(self) -> int:
        """The number of transitions: the NLL's normalizer per transition."""
        return int(self.values[:, 1:].numel())

    def forward(self, p: torch.Tensor, mu: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
        """NLL of every transition of these traces under (p, μ) [cells, transitions]."""
        if self.poisson is not None:
            return self.poisson(p, mu)
        return gaussian_transition_nll(self.values, p, mu, log_scale)
