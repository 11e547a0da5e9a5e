"""Profile intervals that are intervals, and figures that carry the run's warnings (issue 29):
a profile end at the estimate or short of 1.96 is retried or reported as "not identified", a fit
short of its optimum makes no call and draws no band, and each rate names its own method."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from matplotlib.collections import PolyCollection
from torch import nn

from cellsweep.tasks.density_pinn import build
from cellsweep.tasks.density_pinn.estimates import NO_CALL, Estimates
from cellsweep.tasks.density_pinn.families import make_family
from cellsweep.tasks.density_pinn.modes import Mode
from cellsweep.tasks.density_pinn.plots import density_figure, mean_curve_figure
from cellsweep.tasks.density_pinn.profile import profile_interval
from helpers.lightning import quiet_trainer

SMALL = {"sim": {"n_cells": 20, "delay": [{"family": "gamma", "mean": 2.5, "shape": 10.0}]}}


class Toy(nn.Module):
    """NLL = f(x) + ½(y − 2x)²: refitting y at fixed x leaves the profile f(x) exactly."""

    def __init__(self, f, x0: float) -> None:
        super().__init__()
        self.f = f
        self.x = nn.Parameter(torch.tensor(x0, dtype=torch.float64))
        self.y = nn.Parameter(torch.tensor(2 * x0, dtype=torch.float64))

    def forward(self) -> torch.Tensor:
        return self.f(self.x) + 0.5 * (self.y - 2 * self.x) ** 2


@pytest.mark.parametrize("se", [0.1, 0.001, 3.0])  # right, far too small, far too large
def test_profile_finds_the_ends_of_a_known_profile(se: float) -> None:
    quad = Toy(lambda x: 0.5 * ((x - 1) / 0.1) ** 2, 1.0)
    p = profile_interval(quad, "x", se, quad.forward)
    assert p.ok and math.log(p.lo) == pytest.approx(1 - 0.196, abs=2e-3)
    assert math.log(p.hi) == pytest.approx(1 + 0.196, abs=2e-3)
    assert float(quad.x) == 1.0  # the module is put back
    # flat for |x| < 0.5, then steep: the secant from a slope of 0 overshoots; ends at ±0.598
    core = Toy(lambda x: 0.5 * (torch.relu(x.abs() - 0.5) / 0.05) ** 2 + 1e-6 * x**2, 0.0)
    p = profile_interval(core, "x", se, core.forward)
    assert p.ok, p.failure
    assert (math.log(p.lo), math.log(p.hi)) == pytest.approx((-0.598, 0.598), abs=3e-3)


def test_a_side_the_profile_does_not_bound_gives_no_interval() -> None:
    toy = Toy(lambda x: 0.5 * (torch.relu(-x) / 0.1) ** 2 + 0.01 * torch.tanh(x), 0.0)
    p = profile_interval(toy, "x", 0.1, toy.forward)
    assert not p.ok and p.retried
    assert "above the estimate out to a factor e^5" in p.failure
    assert "below" not in p.failure  # that side was found: −0.196
    assert math.log(p.lo) == pytest.approx(-0.196, abs=2e-3)


def test_a_profile_below_its_minimum_at_the_estimate_is_no_interval() -> None:
    """The issue's "95 % [225, 289.5]": the estimate is not the optimum, the old secant ended at
    the estimate. Now the profile says the fit is not at its optimum, and where it is lower."""
    toy = Toy(lambda x: 0.5 * ((x - 0.5) / 0.1) ** 2, 0.0)
    p = profile_interval(toy, "x", 0.1, toy.forward)
    assert not p.ok and p.failure.startswith("the fit is not at its optimum: the profile is")


def _legend(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_a_fit_short_of_its_optimum_says_so_and_backs_no_band_or_call() -> None:
    run = build(SMALL, {"estimator": "likelihood", "family": "gamma"}, seed=4)
    mod = run.module
    quiet_trainer(3).fit(mod, datamodule=run.datamodule)
    est = mod.estimates("laplace", 0)
    assert est.converged and est.call == NO_CALL and "one gamma" in est.why_no_call  # by itself
    fig = density_figure(est, None, "fit")
    assert any(isinstance(c, PolyCollection) for c in fig.axes[0].collections)  # a band
    with torch.no_grad():
        mod.log_lambda_b.add_(0.3)  # λ_b 35 % off its optimum: as if training had stopped early
    est = mod.estimates("laplace", 0)
    assert "Newton step would still lower the NLL" in est.convergence_warning
    assert est.call == NO_CALL and est.why_no_call == "the fit has not converged"
    assert est.band_note == "fit not converged"
    fig = density_figure(est, None, "fit")
    title = fig.axes[0].get_title()
    assert title.startswith("NOT CONVERGED") and "no serial/parallel call" in title
    assert "no 95 % band: fit not converged" in _legend(fig)
    assert "estimate (not converged)" in _legend(fig)
    assert not any(isinstance(c, PolyCollection) for c in fig.axes[0].collections)
    curve = mean_curve_figure(mod.times, run.datamodule.fit.values, est, "fit")
    assert curve.axes[0].get_title().startswith("NOT CONVERGED")


def test_mode_lines_have_their_own_colours_and_each_rate_its_own_method() -> None:
    grid = np.linspace(0, 10, 201)
    f = np.exp(-0.5 * ((grid - 2) / 0.4) ** 2) + np.exp(-0.5 * ((grid - 5) / 0.4) ** 2)
    f /= np.trapezoid(f, grid)
    est = Estimates(
        lambda_b=201.0,
        lambda_d=1.02,
        lambda_b_ci=(180.0, 225.0),
        lambda_d_ci=(0.9, 1.2),
        grid=grid,
        f_tau=f,
        f_lo=0.9 * f,
        f_hi=1.1 * f,
        times=np.linspace(0, 10, 21),
        mean=np.zeros(21),
        interval_method="profile for lambda_d (Laplace unreliable)",
        supported=[Mode(2.0, 1.8, 2.2), Mode(5.0, 4.8, 5.2)],
        rate_methods={"lambda_b": "laplace", "lambda_d": "profile (Laplace unreliable)"},
    )
    ax = density_figure(est, None, "two").axes[0]
    colours = [ln.get_color() for ln in ax.get_lines() if ln.get_label().startswith("mode")]
    assert len(colours) == 2 and colours[0] != colours[1]
    assert ax.get_title().endswith("2 supported modes: parallel")
    rates = mean_curve_figure(est.times, np.zeros((3, 21)), est, "two").axes[0].get_title()
    assert "λ_b = 201 [180, 225] (laplace)" in rates
    assert "λ_d = 1.02 [0.9, 1.2] (profile (Laplace unreliable))" in rates
    est.not_identified = {"lambda_b": "the NLL rises by only 0.1 nats"}
    ax = density_figure(est, None, "two").axes[0]
    assert "λ_b not identified on this fit" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert not any(isinstance(c, PolyCollection) for c in ax.collections)
    rates = mean_curve_figure(est.times, np.zeros((3, 21)), est, "two").axes[0].get_title()
    assert "λ_b = 201 (not identified on this fit)" in rates and "[180" not in rates


def test_free_kernels_start_flat_so_f_has_no_kink_at_an_onset() -> None:
    """Issue 29: Rayleigh kernels start with slope 1/σ², so f_τ jumped in slope at every onset
    (0.0146 at τ = 0.50 against 0.080 at 0.55). The slopes either side of each onset agree now."""
    torch.manual_seed(0)
    fam = make_family("free", 2.0, 10.0, width_min=0.1, width_max=2.0)
    with torch.no_grad():
        fam.logits.normal_()
        fam.raw_width.fill_(-3.0)  # narrow kernels: the sharpest onsets
        h = 1e-4
        for c in fam.onsets[1:]:
            f = fam(torch.stack([c - h, c, c + h]).double())
            left, right = (f[1] - f[0]) / h, (f[2] - f[1]) / h
            assert abs(float(right - left)) < 1e-2, (float(c), float(left), float(right))
