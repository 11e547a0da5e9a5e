"""The Density-PINN estimators: constraints of the model, and short fits that must work."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cellsweep.errors import ConfigError
from cellsweep.tasks.density_pinn import build
from cellsweep.tasks.density_pinn.families import FAMILIES, make_family
from cellsweep.tasks.density_pinn.likelihood import MeanCurve
from helpers.lightning import quiet_trainer

UNIMODAL = {
    "sim": {"delay": [{"family": "gamma", "mean": 2.5, "shape": 10.0, "weight": 1.0}]},
}
LIKELIHOOD = {"estimator": "likelihood", "family": "gamma"}
AUTHORS = {"estimator": "authors", "steps_per_epoch": 25}


@pytest.mark.parametrize("family", FAMILIES)
def test_cdf_is_monotone_in_unit_interval_and_mean_starts_at_zero(family: str) -> None:
    torch.manual_seed(0)
    fam = make_family(family, 2.0, 10.0)
    with torch.no_grad():
        for p in fam.parameters():
            p.add_(torch.randn_like(p))  # anywhere in parameter space, not just the start
    curve = MeanCurve(torch.linspace(0, 10, 21, dtype=torch.float64), 40)
    f = fam(curve.grid)
    F = curve.cdf(f)
    assert (f >= 0).all() and F[0] == 0
    assert (torch.diff(F) >= 0).all() and F.max() <= 1 + 1e-6
    p, mu, y = curve.transitions(f, torch.tensor(150.0), torch.tensor(0.7))
    assert y[0] == 0 and (mu >= 0).all() and ((p > 0) & (p < 1)).all()


def test_model_stays_valid_whatever_the_rate_parameters() -> None:
    """The rates are exp(θ): wherever the optimizer takes θ (rates from e^-50 to e^8, birth and
    death far apart), the transitions stay a law (survival in [0, 1], mean arrivals >= 0) and the
    NLL and its gradient stay finite, so a fit never steps into NaN."""
    module = build(UNIMODAL, LIKELIHOOD, seed=0).module
    for log_b, log_d in [(-50, -50), (-50, 5), (5, -50), (0, 0), (8, 8), (-10, 3)]:
        with torch.no_grad():
            module.log_lambda_b.fill_(log_b)
            module.log_lambda_d.fill_(log_d)
        module.zero_grad()
        p, mu, y = module.transitions()
        assert ((p >= 0) & (p <= 1)).all() and (mu >= 0).all() and (y >= 0).all(), (log_b, log_d)
        assert torch.isfinite(mu).all() and torch.isfinite(y).all(), (log_b, log_d)
        loss = module()
        loss.backward()
        assert torch.isfinite(loss), (log_b, log_d)
        grads = [q.grad for q in module.parameters() if q.grad is not None]
        assert module.log_lambda_b.grad is not None and module.log_lambda_d.grad is not None
        assert all(torch.isfinite(g).all() for g in grads), (log_b, log_d)


def test_short_likelihood_fit_recovers_lambda_d_with_an_interval() -> None:
    run = build(UNIMODAL, LIKELIHOOD, seed=11)
    trainer = quiet_trainer(5)
    trainer.fit(run.module, datamodule=run.datamodule)
    est = run.module.estimates("laplace", 0)
    assert abs(est.lambda_d - 1.0) < 0.15, est.lambda_d
    assert est.lambda_d_ci[0] < est.lambda_d < est.lambda_d_ci[1]
    # one gamma alone has one mode by construction: its shape, not a serial/parallel call
    assert est.call == "no call" and "one gamma has one mode" in est.why_no_call
    assert [round(p.t, 1) for p in est.supported] and est.modes == []
    m = trainer.callback_metrics
    assert float(m["val/lambda_d_rel_err"]) < 0.15 and np.isfinite(float(m["val/nll_heldout"]))
    # the profile interval brackets the estimate and is of the same size as Laplace's
    prof = run.module.profile_interval("log_lambda_d", 0.07)
    assert prof.ok, prof.failure
    lo, hi = prof.lo, prof.hi
    assert lo < est.lambda_d < hi
    assert 0.5 < (hi - lo) / (est.lambda_d_ci[1] - est.lambda_d_ci[0]) < 2


def test_gaussian_likelihood_on_intensities() -> None:
    task = {**UNIMODAL, "sim": {**UNIMODAL["sim"], "scale": 4.0, "noise_sd": 0.5}}
    run = build(task, LIKELIHOOD, seed=2)
    assert run.module.kind == "gaussian"
    quiet_trainer(5).fit(run.module, datamodule=run.datamodule)
    assert abs(float(run.module.log_lambda_d.exp()) - 1.0) < 0.2
    assert abs(float(run.module.log_scale.exp()) - 4.0) < 1.5  # learned a ≈ reporter scale
    with pytest.raises(ConfigError, match="likelihood=gaussian"):
        build(task, {**LIKELIHOOD, "likelihood": "poisson"}, seed=2)


def test_authors_model_constraints_and_short_fit_lowers_its_loss() -> None:
    torch.manual_seed(0)
    run = build({}, AUTHORS, seed=0)
    mod = run.module
    with torch.no_grad():
        mu, _ = mod.encode(mod.fit)
        dec = mod.decode(mu)
        t = torch.linspace(0, 10, 101)
        F = mod.cdf(t, dec)
        y = mod.reporter(t, dec)
        before = float(mod.total(mod.loss_terms(mod.fit, mod.beta_fit, sample=False)))
    assert (dec["lambda_b"] > 0).all() and (dec["lambda_d"] > 0).all()
    assert (torch.diff(F, dim=1) >= 0).all() and F.min() >= 0 and F.max() <= 1 + 1e-6
    assert torch.allclose(y[:, 0], torch.zeros(()))
    quiet_trainer(4).fit(mod, datamodule=run.datamodule)
    with torch.no_grad():
        after = float(mod.total(mod.loss_terms(mod.fit, mod.beta_fit, sample=False)))
    assert after < 0.99 * before, (before, after)  # at the published lr 1e-4, 100 steps
    est = mod.estimates(seed=0)
    assert est.lambda_d_ci[0] <= est.lambda_d <= est.lambda_d_ci[1]


def test_model_section_must_be_a_density_pinn_estimator() -> None:
    with pytest.raises(ConfigError, match=r"model=density_pinn/likelihood"):
        build({}, {"depth": 3, "width": 32, "activation": "tanh"}, seed=0)
    with pytest.raises(ConfigError, match=r"model\.family"):
        build({}, {**LIKELIHOOD, "family": "weibull"}, seed=0)
