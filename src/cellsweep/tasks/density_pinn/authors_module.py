"""The authors' Density-PINN (Jo et al., Patterns 2023; Mathbiomed/Density-PINN, class MDN and
utils.train), reimplemented as a LightningModule with its published defaults.

A VAE encodes each trace (z-scored per time point across cells). Decoders give each cell its
λ_b, λ_d (ELU + 1) and a CDF F_τ: a mixture of M shifted Rayleigh CDFs with onsets on
[0, ⌊t_end⌋], weights ELU + 1 normalized, and inverse squared widths s in (1/s_max², 1/s_min²).
The reporter curve ỹ is a second mixture over the same kernels, its weights a map of F_τ's.
Loss: L1 physics residual |dỹ/dt − (λ_b F_τ − λ_d ỹ)| at collocation points (autograd) + L1 data
term on raw counts + KL + |s − target width| (the target from each trace's rising slope).
Estimates, as in the authors' Visualization notebook: the mean trace encoded ``samples`` times;
rates are the sample mean with a 2.5–97.5 % range, f_τ = dF_τ/dt the mean ± 1.96 sd.

Families other than ``free`` decode a gamma (or a two-gamma mixture) per cell instead of the
kernel weights; ỹ then keeps its own kernel weights decoded from z.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
from torch.nn import functional as Fn

from cellsweep.nn import MLP
from cellsweep.tasks.density_pinn.config import AuthorsModelCfg
from cellsweep.tasks.density_pinn.data import Truth
from cellsweep.tasks.density_pinn.estimates import Estimates, wasserstein1
from cellsweep.tasks.density_pinn.estimator import DensityEstimator, Notes
from cellsweep.tasks.density_pinn.families import gamma_pdf
from cellsweep.tasks.density_pinn.likelihood import (
    MeanCurve,
    TransitionNLL,
    gaussian_transition_nll,
)

N_FAMILY_PARAMS = {"gamma": 2, "mixture2": 5}
log = logging.getLogger(__name__)


def width_targets(values: torch.Tensor, m: int) -> torch.Tensor:
    """The authors' β per cell and kernel: the trace's positive slope, min-max normalized per
    cell, stretched to M kernels. (Their moving average acts on a length-1 axis and is a no-op
    apart from the last points, so it is left out.)"""
    slope = torch.gradient(values, dim=1)[0].clamp_min(0)
    lo, hi = slope.min(1, keepdim=True).values, slope.max(1, keepdim=True).values
    beta = (slope - lo) / (hi - lo).clamp_min(1e-12)
    reps = math.ceil(m / values.shape[1])
    return beta.repeat_interleave(reps, dim=1)[:, :m]


def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Linear interpolation of fp [..., len(xp)] at x (1-D), differentiable in fp."""
    i = torch.searchsorted(xp, x.detach()).clamp(1, xp.numel() - 1)
    x0, x1 = xp[i - 1], xp[i]
    w = ((x - x0) / (x1 - x0)).clamp(0, 1)
    return fp[..., i - 1] * (1 - w) + fp[..., i] * w


class AuthorsPINN(DensityEstimator):
    """The authors' VAE + kernel-mixture PINN, as published (see the module's docstring)."""

    def __init__(
        self,
        cfg: AuthorsModelCfg,
        times: np.ndarray,
        fit_values: np.ndarray,
        val_values: np.ndarray,
        grid: np.ndarray | None = None,
        truth: Truth | None = None,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        T, M, h, k, d = times.size, cfg.n_kernels, cfg.width, cfg.latent, cfg.depth
        self.encoder = MLP(T, 2 * k, depth=d, width=h, activation="elu")
        self.dec_lambda_b = MLP(k, 1, depth=1, width=h, activation="elu")
        self.dec_lambda_d = MLP(k, 1, depth=1, width=h, activation="elu")
        self.dec_s = MLP(k, M, depth=d, width=h, activation="elu")
        if cfg.family == "free":
            self.dec_w = MLP(k, M, depth=d, width=h, activation="elu")
            self.w_to_y = MLP(M, M, depth=1, width=M, activation="elu")
        else:
            self.dec_family = MLP(
                k, N_FAMILY_PARAMS[cfg.family], depth=d, width=h, activation="elu"
            )
            self.dec_wy = MLP(k, M, depth=d, width=h, activation="elu")
        fit = torch.tensor(fit_values, dtype=torch.float32)
        mean, std = fit.mean(0), fit.std(0, unbiased=False)
        std = torch.where(std > 0, std, torch.ones_like(std))  # as sklearn's StandardScaler
        self.register_buffer("x_mean", mean)
        self.register_buffer("x_std", std)
        # the traces and what is computed from them are data, not the model's state (model.pt)
        self.register_buffer("fit", fit, persistent=False)
        held = torch.tensor(val_values, dtype=torch.float32)
        self.register_buffer("held", held, persistent=False)
        self.register_buffer("beta_fit", width_targets(fit, M), persistent=False)
        self.register_buffer("beta_held", width_targets(self.held, M), persistent=False)
        t = torch.tensor(times, dtype=torch.float32)
        self.register_buffer("t_obs", t)
        t_col = torch.linspace(float(t[0]), float(t[-1]), cfg.collocation)
        self.register_buffer("t_col", t_col, persistent=False)
        self.register_buffer("onsets", torch.linspace(0.0, float(int(times[-1])), M))
        t_dense = torch.linspace(0.0, float(t[-1]), 20 * T + 1)
        self.register_buffer("t_dense", t_dense, persistent=False)
        self.s_lo, self.s_hi = 1.0 / cfg.width_max**2, 1.0 / cfg.width_min**2
        self.counts = bool(np.all(val_values == np.round(val_values)) and (val_values >= 0).all())
        self.val_nll = TransitionNLL(
            torch.tensor(val_values), "poisson" if self.counts else "gaussian"
        )
        self.curve = MeanCurve(torch.tensor(times, dtype=torch.float64), 40)
        self.times = np.asarray(times, dtype=float)
        self.grid = np.asarray(grid if grid is not None else np.linspace(0, times[-1], 201))
        self.truth = truth
        with torch.no_grad():
            lam_b0, lam_d0, _ = self.population()
        self.initial_rates = (lam_b0, lam_d0)
        self.epoch_losses: list[float] = []  # mean train/loss per epoch, for convergence()
        self._step_losses: list[float] = []

    # -- the network ---------------------------------------------------------------------------
    def encode(self, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, log σ²) of the latent z of z-scored traces: the VAE's encoder."""
        out = self.encoder((values - self.x_mean) / self.x_std)
        return out.chunk(2, dim=-1)

    def decode(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """Rates, kernel widths and weights (or family parameters) from z."""
        dec = {
            "lambda_b": Fn.elu(self.dec_lambda_b(z)).squeeze(-1) + 1,
            "lambda_d": Fn.elu(self.dec_lambda_d(z)).squeeze(-1) + 1,
            "s": (self.s_hi - self.s_lo) * torch.sigmoid(self.dec_s(z)) + self.s_lo,
        }
        if self.cfg.family == "free":
            w = Fn.elu(self.dec_w(z)) + 1
            dec["w"] = w / w.sum(-1, keepdim=True)
            dec["wy"] = Fn.elu(self.w_to_y(dec["w"])) + 1
        else:
            dec["family"] = self.dec_family(z)
            dec["wy"] = Fn.elu(self.dec_wy(z)) + 1
        return dec

    def _kernels(self, t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """Rayleigh CDFs [cells, len(t), M] with onsets ``self.onsets``."""
        x = (t[..., None] - self.onsets).clamp_min(0)
        return 1 - torch.exp(-0.5 * s[:, None, :] * x**2)

    def family_pdf(self, t: torch.Tensor, dec: dict[str, torch.Tensor]) -> torch.Tensor:
        """f_τ [cells, len(t)] of a parametric family decoded per cell."""
        p = dec["family"]
        tt = t[None, :]
        if self.cfg.family == "gamma":
            mean, shape = Fn.softplus(p[:, :1]) + 1e-3, 1 + Fn.softplus(p[:, 1:2])
            return gamma_pdf(tt, mean, shape)
        m1 = Fn.softplus(p[:, :1]) + 1e-3
        m2 = m1 + Fn.softplus(p[:, 1:2])
        k1, k2 = 1 + Fn.softplus(p[:, 2:3]), 1 + Fn.softplus(p[:, 3:4])
        w = torch.sigmoid(p[:, 4:5])
        return w * gamma_pdf(tt, m1, k1) + (1 - w) * gamma_pdf(tt, m2, k2)

    def cdf(self, t: torch.Tensor, dec: dict[str, torch.Tensor]) -> torch.Tensor:
        """F_τ [cells, len(t)]: the physics residual's input."""
        if self.cfg.family == "free":
            return (self._kernels(t, dec["s"]) * dec["w"][:, None, :]).sum(-1)
        f = self.family_pdf(self.t_dense, dec)
        dx = torch.diff(self.t_dense)
        F = torch.cat(
            [f.new_zeros(f.shape[0], 1), torch.cumsum(0.5 * dx * (f[:, 1:] + f[:, :-1]), 1)], 1
        )
        return _interp(t, self.t_dense, F)

    def pdf(self, t: torch.Tensor, dec: dict[str, torch.Tensor]) -> torch.Tensor:
        """f_τ = dF_τ/dt [cells, len(t)]: what is reported and compared with the truth."""
        if self.cfg.family == "free":
            x = (t[..., None] - self.onsets).clamp_min(0)
            s = dec["s"][:, None, :]
            return (s * x * torch.exp(-0.5 * s * x**2) * dec["w"][:, None, :]).sum(-1)
        return self.family_pdf(t, dec)

    def reporter(self, t: torch.Tensor, dec: dict[str, torch.Tensor]) -> torch.Tensor:
        """ỹ(t) [cells, len(t)]: a non-negative mixture of the same kernels, ỹ(0) = 0."""
        return (self._kernels(t, dec["s"]) * dec["wy"][:, None, :]).sum(-1)

    # -- the loss ------------------------------------------------------------------------------
    def loss_terms(
        self, values: torch.Tensor, beta: torch.Tensor, sample: bool
    ) -> dict[str, torch.Tensor]:
        """The four published loss terms, separately, so each can be logged and weighted."""
        mu, logvar = self.encode(values)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if sample else mu
        dec = self.decode(z)
        with torch.enable_grad():
            t = self.t_col.expand(values.shape[0], -1).clone().requires_grad_(True)
            x = (t[..., None] - self.onsets).clamp_min(0)
            y = ((1 - torch.exp(-0.5 * dec["s"][:, None, :] * x**2)) * dec["wy"][:, None, :]).sum(
                -1
            )
            dy = torch.autograd.grad(y.sum(), t, create_graph=self.training)[0]
        F = self.cdf(self.t_col, dec)
        rhs = dec["lambda_b"][:, None] * F - dec["lambda_d"][:, None] * y
        target = (1 - beta) * self.s_lo + beta * self.s_hi
        return {
            "physics": (dy - rhs).abs().mean(),
            "data": (self.reporter(self.t_obs, dec) - values).abs().mean(),
            "kl": (-0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(-1)).mean(),
            "width": (dec["s"] - target).abs().mean(),
        }

    def total(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """The weighted sum (all weights 1 as published)."""
        c = self.cfg
        return (
            c.physics_weight * terms["physics"]
            + c.data_weight * terms["data"]
            + c.kl_weight * terms["kl"]
            + c.width_penalty_weight * terms["width"]
        )

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        """The weighted loss on the fit cells (z sampled), each term logged."""
        terms = self.loss_terms(self.fit, self.beta_fit, sample=True)
        loss = self.total(terms)
        self._step_losses.append(float(loss.detach()))
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=1)
        for key in ("physics", "data", "kl", "width"):
            self.log(f"train/{key}", terms[key], on_step=False, on_epoch=True, batch_size=1)
        return loss

    def on_train_epoch_end(self) -> None:
        """Keep the epoch's mean loss: ``convergence`` reads the trend."""
        if self._step_losses:
            self.epoch_losses.append(float(np.mean(self._step_losses)))
            self._step_losses = []

    def convergence(
        self, window: float = 0.2, falling: float = 0.01, near: float = 0.05
    ) -> list[str]:
        """Why the fit has not converged at the end of its budget (empty: no sign of it).

        - the loss still falls: its mean over the last ``window`` of the epochs (at least 2) is
          more than ``falling`` below the mean over as many epochs before them;
        - a rate sits within ``near`` of its value at initialization (the decoders' ELU + 1
          starts near 1, so a λ that never moved reads as an estimate of 1).
        """
        reasons = []
        n = len(self.epoch_losses)
        k = max(2, round(window * n))
        if n >= 2 * k:
            before = float(np.mean(self.epoch_losses[-2 * k : -k]))
            last = float(np.mean(self.epoch_losses[-k:]))
            if before > 0 and (before - last) / abs(before) > falling:
                reasons.append(
                    f"train/loss still falling ({(before - last) / abs(before):.1%} over the "
                    f"last {k} of {n} epochs)"
                )
        elif n < 4:
            reasons.append(f"only {n} epoch(s): too few to tell whether the loss has settled")
        with torch.no_grad():
            lam_b, lam_d, _ = self.population()
        for name, now, start in zip(
            ("λ_b", "λ_d"), (lam_b, lam_d), self.initial_rates, strict=True
        ):
            if abs(now / start - 1) < near:
                reasons.append(
                    f"{name} = {now:.3g} is within {near * 100:g} % of its initial {start:.3g}"
                )
        return reasons

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        """Held-out loss, and the population fit's transition NLL: comparable across estimators."""
        terms = self.loss_terms(self.held, self.beta_held, sample=False)
        self.log("val/loss", self.total(terms), batch_size=1)
        with torch.no_grad():
            lam_b, lam_d, dec = self.population()
            f = self.pdf(self.curve.grid.float(), dec)[0].double()
            p, mu, _ = self.curve.transitions(f, self._rate(lam_b), self._rate(lam_d))
            self.log("val/nll_heldout", self.heldout_nll(p, mu), prog_bar=True, batch_size=1)
            if self.truth is not None:
                tr = self.truth
                f_true_grid = torch.tensor(tr.grid, dtype=torch.float32, device=self.fit.device)
                f_hat = self.pdf(f_true_grid, dec)[0].double().cpu().numpy()
                self.log("val/density_w1", wasserstein1(tr.grid, f_hat, tr.f_tau), batch_size=1)
                self.log("val/lambda_b_rel_err", abs(lam_b / tr.lambda_b - 1), batch_size=1)
                self.log("val/lambda_d_rel_err", abs(lam_d / tr.lambda_d - 1), batch_size=1)

    def heldout_nll(self, p: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        """Mean NLL per held-out transition under the population fit: exact Poisson for counts;
        for intensities the Gaussian moment form with its scale at the closed-form optimum."""
        if self.counts:
            return self.val_nll(p, mu, torch.zeros((), dtype=torch.float64)).mean()
        v = self.val_nll.values
        x0, x1 = v[:, :-1], v[:, 1:]
        base = p * (1 - p) * x0.clamp_min(0) + mu.clamp_min(0) + 1e-9
        a = ((x1 - p * x0 - mu) ** 2 / base).mean().clamp_min(1e-9)
        return gaussian_transition_nll(v, p, mu, a.log()).mean()

    def _rate(self, value: float) -> torch.Tensor:
        """A rate as a float64 scalar on the module's device, for the mean-curve integrator."""
        return torch.tensor(float(value), dtype=torch.float64, device=self.fit.device)

    def population(self) -> tuple[float, float, dict[str, torch.Tensor]]:
        """Rates and decoded kernels of the mean trace at its latent mean."""
        mu, _ = self.encode(self.fit.mean(0, keepdim=True))
        dec = self.decode(mu)
        return float(dec["lambda_b"][0]), float(dec["lambda_d"][0]), dec

    def configure_optimizers(self):
        """Adam with AMSGrad, as published."""
        return torch.optim.Adam(self.parameters(), lr=self.cfg.lr, amsgrad=True)

    # -- reporting -----------------------------------------------------------------------------
    def notes(self, family: str) -> Notes:
        """Whether the fit converged (``convergence``): tags, and a warning line where not."""
        not_converged = self.convergence()
        notes = Notes(family, tags={"converged": "false" if not_converged else "true"})
        if not_converged:
            why = "; ".join(not_converged)
            notes.tags["convergence_warning"] = why
            notes.info = {"converged": False, "convergence_warning": not_converged}
            msg = f"the authors' model has not converged: {why}"
            log.warning(msg)
            notes.lines.append(
                f"WARNING: {msg}. Raise trainer.max_epochs or model.steps_per_epoch."
            )
        return notes

    @torch.no_grad()
    def estimates(self, method: str | None = None, seed: int = 0) -> Estimates:
        """The authors' estimates: ``cfg.samples`` latent draws of the mean trace (the only
        ``method``, "samples"): rate means with 2.5–97.5 % ranges, f_τ mean ± 1.96 sd."""
        if method not in (None, "samples"):
            raise ValueError(f"the authors' model has intervals by samples only, not {method!r}")
        gen = torch.Generator(device=self.fit.device).manual_seed(seed)
        n = self.cfg.samples
        mu, logvar = self.encode(self.fit.mean(0, keepdim=True).expand(n, -1))
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=gen, device=mu.device)
        dec = self.decode(z)
        lb, ld = dec["lambda_b"].cpu().numpy(), dec["lambda_d"].cpu().numpy()
        grid = torch.tensor(self.grid, dtype=torch.float32, device=mu.device)
        f = self.pdf(grid, dec).cpu().numpy()
        f_mean, f_sd = f.mean(0), f.std(0)
        _, _, dec0 = self.population()
        f0 = self.pdf(self.curve.grid.float(), dec0)[0].double()
        _, _, y = self.curve.transitions(f0, self._rate(lb.mean()), self._rate(ld.mean()))
        return Estimates(
            lambda_b=float(lb.mean()),
            lambda_d=float(ld.mean()),
            lambda_b_ci=(float(np.percentile(lb, 2.5)), float(np.percentile(lb, 97.5))),
            lambda_d_ci=(float(np.percentile(ld, 2.5)), float(np.percentile(ld, 97.5))),
            grid=self.grid,
            f_tau=f_mean,
            f_lo=np.clip(f_mean - 1.96 * f_sd, 0, None),
            f_hi=f_mean + 1.96 * f_sd,
            times=self.times,
            mean=y.cpu().numpy(),
            interval_method="latent samples",
            rate_methods={"lambda_b": "latent samples", "lambda_d": "latent samples"},
            convergence_warning="; ".join(self.convergence()),
        )
