"""Transduction-time density families of the estimators, as torch modules with a ``pdf(t)``.

- ``gamma``: one gamma law, a serial cascade of steps (shape >= 1, so f_τ(0) is finite);
- ``mixture2``: two gamma laws with ordered means, two parallel pathways;
- ``free``: a mixture of K shifted kernels on a fixed grid of onsets, with learned weights under a
  smoothness prior and one width in [width_min, width_max]. The kernel is a Maxwell law
  x²·e^{−x²/2σ²}, not the authors' Rayleigh x·e^{−x²/2σ²}: a Rayleigh kernel starts with slope
  1/σ², so f_τ had a kink at every onset (issue 29: 0.0146 at τ = 0.50, 0.080 at 0.55); a Maxwell
  kernel starts flat, so f_τ and f_τ′ are continuous there.

All parameters are unconstrained; ``n_params`` counts them, which is what the Laplace
approximation and the model comparison see.
"""

from __future__ import annotations

import math

import torch
from torch import nn

FAMILIES = ("free", "gamma", "mixture2")


def gamma_pdf(t: torch.Tensor, mean: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
    """Gamma density by mean and shape, zero at t <= 0 with finite gradients."""
    rate = shape / mean
    tt = t.clamp_min(torch.finfo(t.dtype).tiny)  # finite logs at t = 0 keep gradients finite
    logp = shape * rate.log() + (shape - 1) * tt.log() - rate * tt - torch.lgamma(shape)
    return torch.where(t > 0, logp.exp(), torch.zeros_like(t))


class GammaFamily(nn.Module):
    """A single gamma delay density: one pathway, parametrized so mean > 0 and shape > 1 always."""

    family_name = "gamma"  # model.family

    def __init__(self, mean: float = 2.0, shape: float = 5.0) -> None:
        super().__init__()
        self.log_mean = nn.Parameter(torch.tensor(math.log(mean), dtype=torch.float64))
        self.raw_shape = nn.Parameter(torch.tensor(math.log(shape - 1.0), dtype=torch.float64))

    def pdf(self, t: torch.Tensor) -> torch.Tensor:
        """f_τ of one gamma: a single serial pathway."""
        return gamma_pdf(t, self.log_mean.exp(), 1.0 + self.raw_shape.exp())

    forward = pdf


class Mixture2Family(nn.Module):
    """w·Gamma(m1, k1) + (1 − w)·Gamma(m2, k2), m1 < m2."""

    family_name = "mixture2"

    def __init__(self, mean: float = 2.0, shape: float = 5.0) -> None:
        super().__init__()
        f64 = torch.float64
        self.log_m1 = nn.Parameter(torch.tensor(math.log(0.6 * mean), dtype=f64))
        self.log_gap = nn.Parameter(torch.tensor(math.log(0.8 * mean), dtype=f64))
        self.raw_k = nn.Parameter(torch.full((2,), math.log(shape - 1.0), dtype=f64))
        self.logit_w = nn.Parameter(torch.tensor(0.0, dtype=f64))

    def pdf(self, t: torch.Tensor) -> torch.Tensor:
        """f_τ of two ordered gammas: two pathways of different speeds."""
        m1 = self.log_m1.exp()
        means = (m1, m1 + self.log_gap.exp())
        shapes = 1.0 + self.raw_k.exp()
        w = torch.sigmoid(self.logit_w)
        return w * gamma_pdf(t, means[0], shapes[0]) + (1 - w) * gamma_pdf(t, means[1], shapes[1])

    forward = pdf


SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


class KernelMixture(nn.Module):
    """Σ_k w_k·Maxwell(t − c_k; σ): onsets c_k on [0, span), one shared width σ in
    [σ_min, σ_max], and a roughness prior on the density. Each kernel rises from zero with zero
    slope, so the mixture has no kink at an onset.

    Unregularized, the likelihood (which sees f_τ only through its integral F_τ) is nearly blind to
    ripples: the kernels shrink to their smallest width and f_τ becomes a comb with kinks at every
    onset and spurious modes, and the Laplace covariance has flat directions that turn the band
    into spikes. The prior is ``smoothness``/2·∫ f_τ″(t)² dt (on a fine grid over [0, span]), plus
    a weak ridge 0.005·Σ logit_k² that keeps unused kernels' weights finite (and fixes the mean
    of the logits, which softmax ignores). Its strength is chosen by held-out NLL
    (benchmarks/README.md).
    """

    family_name = "free"

    def __init__(
        self,
        n_kernels: int,
        span: float,
        width_min: float,
        width_max: float,
        mean: float = 2.0,
        smoothness: float = 0.01,
    ) -> None:
        super().__init__()
        f64 = torch.float64
        self.register_buffer("onsets", torch.linspace(0.0, span, n_kernels + 1, dtype=f64)[:-1])
        self.register_buffer("rough_grid", torch.linspace(0.0, span, 401, dtype=f64))
        self.width_min, self.width_max = width_min, width_max
        self.smoothness = float(smoothness)
        mid = 0.5 * (width_min + width_max)
        # start near a broad bump around the guessed mean delay
        kernel_mean = 2 * SQRT_2_OVER_PI * mid  # the Maxwell law's mean
        logits = -0.5 * ((self.onsets + kernel_mean - mean) / max(mean, 1e-3)) ** 2
        self.logits = nn.Parameter(logits.clone())
        self.raw_width = nn.Parameter(torch.zeros((), dtype=f64))

    def widths(self) -> torch.Tensor:
        """Kernel widths, kept inside [width_min, width_max] by a sigmoid."""
        return self.width_min + (self.width_max - self.width_min) * torch.sigmoid(self.raw_width)

    def pdf(self, t: torch.Tensor) -> torch.Tensor:
        """f_τ as a mixture of shifted Maxwell kernels (smooth onsets): the free family."""
        w = torch.softmax(self.logits, 0)
        sig = self.widths()
        x = (t.unsqueeze(-1) - self.onsets).clamp_min(0.0)
        k = SQRT_2_OVER_PI * x**2 / sig**3 * torch.exp(-0.5 * (x / sig) ** 2)
        return (k * w).sum(-1)

    def penalty(self) -> torch.Tensor:
        """−log prior (up to a constant): roughness of f_τ plus the logits' weak ridge."""
        g = self.rough_grid
        h = g[1] - g[0]
        d2 = torch.diff(self.pdf(g), n=2) / h**2
        rough = (d2**2).sum() * h
        return 0.5 * self.smoothness * rough + 0.005 * (self.logits**2).sum()

    forward = pdf


def make_family(
    name: str,
    mean: float,
    span: float,
    n_kernels: int = 20,
    width_min: float = 0.1,
    width_max: float = 2.0,
    smoothness: float = 0.01,
) -> nn.Module:
    """The family ``name``, started at a delay of about ``mean``."""
    if name == "gamma":
        return GammaFamily(mean)
    if name == "mixture2":
        return Mixture2Family(mean)
    if name == "free":
        return KernelMixture(n_kernels, span, width_min, width_max, mean, smoothness)
    raise ValueError(f"unknown family {name!r}; expected one of {FAMILIES}")
