"""cellsweep's Density-PINN: F_τ from a density family, the reporter mean from the ODE solved
exactly on collocation sub-steps, fitted by the exact transition likelihood of every trace.

Logged per epoch: ``train/loss`` (mean NLL per transition of the fit cells), ``val/loss`` and
``val/nll_heldout`` (the same on held-out cells: no truth needed), and with a known truth
``val/density_w1``, ``val/lambda_b_rel_err``, ``val/lambda_d_rel_err``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from cellsweep.tasks.density_pinn.config import LikelihoodModelCfg
from cellsweep.tasks.density_pinn.data import Truth
from cellsweep.tasks.density_pinn.estimates import Estimates, wasserstein1
from cellsweep.tasks.density_pinn.estimator import DensityEstimator
from cellsweep.tasks.density_pinn.likelihood import MeanCurve, TransitionNLL
from cellsweep.tasks.density_pinn.modes import delta_modes, single_family_no_call
from cellsweep.tasks.density_pinn.profile import ProfileInterval, profile_interval

Z95 = 1.959963984540054
CHI2_95 = 3.841458820694124
NEWTON_NATS = 0.1  # a fit a Newton step would improve by more has not converged
# an L-BFGS step (one epoch) that lowers the mean NLL per transition by less has converged: the
# run stops there, so trainer.max_epochs is a cap, not a cost
CONVERGED = 1e-9


def moment_start(times: np.ndarray, values: np.ndarray) -> tuple[float, float, float]:
    """Starting λ_b, λ_d and mean delay: λ_d from Cov(Y_t, Y_t+h)/Var(Y_t) = e^{−λ_d h} (fact 3),
    λ_b from the plateau, the delay from the half-rise time."""
    ratios = []
    for i in range(times.size - 1):
        v = values[:, i].var(ddof=1)
        if v > 0 and values[:, i].mean() > 0:
            c = np.cov(values[:, i], values[:, i + 1])[0, 1] / v
            if 0 < c < 1:
                ratios.append(-math.log(c) / (times[i + 1] - times[i]))
    span = float(times[-1] - times[0])
    lam_d = float(np.clip(np.median(ratios) if ratios else 1.0 / span, 0.1 / span, 100.0 / span))
    mean = values.mean(0)
    lam_b = max(lam_d * float(mean[-max(1, times.size // 7) :].mean()), 1e-6)
    half = times[np.argmax(mean >= 0.5 * mean[-1])] if mean[-1] > 0 else 0.3 * span
    delay = float(np.clip(half - math.log(2) / lam_d, 0.05 * span, 0.8 * span))
    return lam_b, lam_d, delay


class LikelihoodPINN(DensityEstimator):
    """cellsweep's estimator: a density family and two log-rates, fitted by the exact
    transition likelihood; intervals by Laplace, or the profile likelihood (``interval``)."""

    def __init__(
        self,
        cfg: LikelihoodModelCfg,
        family: nn.Module,
        times: np.ndarray,
        fit_values: np.ndarray,
        val_values: np.ndarray,
        kind: str,
        start: tuple[float, float],
        grid: np.ndarray | None = None,
        truth: Truth | None = None,
    ) -> None:
        """``cfg`` holds the knobs (collocation, optimizer, lr, iterations, interval method), as
        the authors' module takes its config; the rest is what this one fit is of: its density
        family, the traces it fits and holds out, the noise ``kind`` and the rates' start."""
        super().__init__()
        self.family, self.interval = family, cfg.interval
        self.kind, self.optimizer_name = kind, cfg.optimizer
        self.lr, self.iters = cfg.lr, cfg.iters_per_epoch
        t = torch.tensor(times, dtype=torch.float64)
        self.curve = MeanCurve(t, cfg.collocation)
        self.fit_nll = TransitionNLL(torch.tensor(fit_values), kind)
        self.val_nll = TransitionNLL(torch.tensor(val_values), kind)
        lam_b, lam_d = start
        self.log_lambda_b = nn.Parameter(torch.tensor(math.log(lam_b), dtype=torch.float64))
        self.log_lambda_d = nn.Parameter(torch.tensor(math.log(lam_d), dtype=torch.float64))
        if kind == "gaussian":
            self.log_scale = nn.Parameter(torch.tensor(0.0, dtype=torch.float64))
        else:
            self.register_buffer("log_scale", torch.tensor(0.0, dtype=torch.float64))
        self.times = np.asarray(times, dtype=float)
        self.grid = np.asarray(grid if grid is not None else np.linspace(0, times[-1], 201))
        self.truth = truth
        self._last_loss: float | None = None

    # -- the model -----------------------------------------------------------------------------
    def transitions(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(p, μ, y): the transition law's parameters and the mean curve."""
        pdf = self.family(self.curve.grid)
        return self.curve.transitions(pdf, self.log_lambda_b.exp(), self.log_lambda_d.exp())

    def nll(self, which: TransitionNLL) -> torch.Tensor:
        """Per-transition NLL of one set of traces (fit or held out) under the fit."""
        p, mu, _ = self.transitions()
        return which(p, mu, self.log_scale)

    def penalty(self) -> torch.Tensor:
        """The density family's −log prior (the free family's smoothness), 0 for the others."""
        pen = getattr(self.family, "penalty", None)
        return pen() if pen is not None else self.log_lambda_b.new_zeros(())

    def forward(self) -> torch.Tensor:
        """Total NLL of the fit cells plus the family's prior (what the fit minimizes, and the
        Laplace Hessian's f)."""
        return self.nll(self.fit_nll).sum() + self.penalty()

    def objective(self) -> torch.Tensor:
        """``forward`` per fit transition: the training loss, on ``val/nll_heldout``'s scale."""
        return self() / self.fit_nll.count

    # -- Lightning -----------------------------------------------------------------------------
    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        """The NLL per fit transition, logged as train/loss."""
        loss = self.objective()
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=1)
        return loss

    def on_train_epoch_end(self) -> None:
        """Stop once an L-BFGS step no longer lowers the loss (``CONVERGED``); Adam's steps are
        not a convergence test, so it runs its epochs."""
        if self.optimizer_name != "lbfgs":
            return
        with torch.no_grad():
            loss = float(self.objective())
        if self._last_loss is not None and self._last_loss - loss < CONVERGED:
            self.trainer.should_stop = True
        self._last_loss = loss

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        """Held-out NLL per transition (no truth needed), and the truth metrics where known."""
        with torch.no_grad():
            held = self.nll(self.val_nll).mean()
        self.log("val/loss", held, batch_size=1)
        self.log("val/nll_heldout", held, prog_bar=True, batch_size=1)
        for key, value in self.truth_metrics().items():
            self.log(key, value, batch_size=1)

    def configure_optimizers(self):
        """L-BFGS with a line search (few, smooth parameters), or Adam."""
        if self.optimizer_name == "adam":
            return torch.optim.Adam(self.parameters(), lr=self.lr)
        return torch.optim.LBFGS(
            self.parameters(),
            lr=self.lr,
            max_iter=self.iters,
            history_size=20,
            line_search_fn="strong_wolfe",
            tolerance_grad=1e-9,
            tolerance_change=1e-12,
        )

    # -- reporting -----------------------------------------------------------------------------
    def _tensor(self, values: np.ndarray) -> torch.Tensor:
        """A float64 tensor on the module's device (CUDA while Lightning validates there)."""
        return torch.as_tensor(values, dtype=torch.float64, device=self.log_lambda_b.device)

    @torch.no_grad()
    def pdf_on_grid(self) -> np.ndarray:
        """f̂_τ on the report grid."""
        return self.family(self._tensor(self.grid)).cpu().numpy()

    @torch.no_grad()
    def truth_metrics(self) -> dict[str, float]:
        """Errors against the truth of simulated data: W1 of f_τ, relative rate errors."""
        if self.truth is None:
            return {}
        tr = self.truth
        lam_b_true = tr.lambda_b * (tr.scale if self.kind == "gaussian" else 1.0)
        f_hat = self.family(self._tensor(tr.grid)).cpu().numpy()
        return {
            "val/density_w1": wasserstein1(tr.grid, f_hat, tr.f_tau),
            "val/lambda_b_rel_err": abs(float(self.log_lambda_b.exp()) / lam_b_true - 1),
            "val/lambda_d_rel_err": abs(float(self.log_lambda_d.exp()) / tr.lambda_d - 1),
        }

    def _flat(self) -> tuple[dict[str, tuple[slice, torch.Size]], torch.Tensor]:
        """Where each trainable parameter sits in one flat vector, and that vector."""
        named = [(n, p) for n, p in self.named_parameters() if p.requires_grad]
        layout, i = {}, 0
        for n, p in named:
            layout[n] = (slice(i, i + p.numel()), p.shape)
            i += p.numel()
        return layout, torch.cat([p.detach().reshape(-1) for _, p in named])

    @staticmethod
    def _unflat(
        layout: dict[str, tuple[slice, torch.Size]], flat: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        return {n: flat[sl].reshape(shape) for n, (sl, shape) in layout.items()}

    def laplace(
        self,
    ) -> tuple[dict[str, tuple[slice, torch.Size]], torch.Tensor, torch.Tensor, torch.Tensor]:
        """(layout, θ̂, R, floored) with R Rᵀ the covariance of the unconstrained parameters: the
        inverse Hessian of ``forward``, near-flat directions floored (``floored`` marks R's
        columns that were: a rate that loads on them has no reliable Laplace interval)."""
        layout, flat0 = self._flat()

        def f(flat: torch.Tensor) -> torch.Tensor:
            return torch.func.functional_call(self, self._unflat(layout, flat), ())

        H = torch.autograd.functional.hessian(f, flat0)
        evals, evecs = torch.linalg.eigh(0.5 * (H + H.T))
        floor = max(float(evals.abs().max()) * 1e-9, 1e-9)
        return layout, flat0, evecs / evals.clamp_min(floor).sqrt(), evals < floor

    def laplace_check(
        self,
        layout: dict[str, tuple[slice, torch.Size]],
        flat0: torch.Tensor,
        root: torch.Tensor,
        floored: torch.Tensor,
        name: str,
    ) -> str:
        """Why the Laplace interval of ``name`` cannot be trusted, or "" if it can.

        - a flat direction: over 1 % of its variance comes from floored Hessian eigenvalues (a
          boundary or a non-identified combination of parameters);
        - not quadratic: along the Laplace's own profile path, θ̂ ± 1.96·Σe/√Σ_ii, twice the NLL
          rise should be χ²₁(0.95) = 3.84 at each end; outside [0.6, 1.7] times that, the interval
          would be off by more than ~30 %.
        """
        i = layout[name][0].start
        row = root[i]
        var = float((row**2).sum())
        if var <= 0 or not math.isfinite(var):
            return "zero or undefined variance"
        share = float((row[floored] ** 2).sum()) / var
        if share > 0.01:
            return f"flat direction ({share:.0%} of the variance from a singular Hessian)"
        step = Z95 * (root @ row) / math.sqrt(var)  # Σ e_i / sqrt(Σ_ii), scaled
        with torch.no_grad():
            base = float(self.forward())
            for sign in (-1.0, 1.0):
                params = self._unflat(layout, flat0 + sign * step)
                rise = 2 * (float(torch.func.functional_call(self, params, ())) - base)
                ratio = rise / CHI2_95
                if not (0.6 <= ratio <= 1.7) or not math.isfinite(ratio):
                    side = "lower" if sign < 0 else "upper"
                    return f"not quadratic (NLL rise {ratio:.2f}× the Laplace's at the {side} end)"
        return ""

    def profile_interval(self, name: str, se: float, limit: float = 5.0) -> ProfileInterval:
        """95 % profile-likelihood interval of the log-rate ``name`` (profile.py), or why the
        profile found none: the rest refitted at fixed values, from the Laplace guess
        x̂ ± 1.96·``se``, each end checked and retried."""
        return profile_interval(self, name, se, self.forward, limit)

    def convergence(self, layout, flat0: torch.Tensor, root: torch.Tensor, floored) -> str:
        """Why the fit is short of its optimum ("" if it is not): the Newton decrement
        ½·gᵀH⁻¹g, the NLL a Newton step would still gain, over ``NEWTON_NATS`` (flat directions
        left out: nothing is gained along them)."""
        self.zero_grad()
        loss = self.forward()
        loss.backward()
        g = torch.cat(
            [
                (p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
                for n, p in self.named_parameters()
                if n in layout
            ]
        )
        self.zero_grad()
        coords = (g @ root)[~floored]
        gain = 0.5 * float((coords**2).sum())
        if not math.isfinite(gain) or gain > NEWTON_NATS:
            return (
                f"a Newton step would still lower the NLL by {gain:.3g} nats "
                f"(> {NEWTON_NATS:g}): raise trainer.max_epochs or model.iters_per_epoch"
            )
        return ""

    def band(
        self, layout: dict[str, tuple[slice, torch.Size]], flat0: torch.Tensor, root: torch.Tensor
    ) -> tuple[np.ndarray, np.ndarray]:
        """(f̂ on the grid, ∂f/∂θ·R): the Laplace covariance carried to f by its Jacobian."""
        grid = self._tensor(self.grid)
        names = [n for n in layout if n.startswith("family.")]

        def f_of(flat: torch.Tensor) -> torch.Tensor:
            full = self._unflat(layout, flat)
            params = {n.removeprefix("family."): full[n] for n in names}
            return torch.func.functional_call(self.family, params, (grid,))

        with torch.no_grad():
            f_hat = f_of(flat0)
        J = torch.autograd.functional.jacobian(f_of, flat0, vectorize=True)
        return f_hat.cpu().numpy(), (J @ root).cpu().numpy()

    def estimates(self, method: str | None = None, seed: int = 0) -> Estimates:
        """Rates with 95 % intervals (Laplace, or the profile likelihood where Laplace fails its
        check or ``method="profile"``; None: ``self.interval``), f_τ with a pointwise 95 % band,
        the supported modes.

        The band is the delta method under the Laplace covariance: f̂(t) ± 1.96·‖∂f(t)/∂θ·R‖,
        clipped at 0. It is what the fit's curvature supports, and it contains f̂ everywhere
        (percentiles of parameter draws need not: where f is a nonlinear function of θ, and
        along near-flat directions, the estimate falls outside them and the draws spike; on
        the log scale the band explodes in the tails, where f is tiny)."""
        method = method or self.interval
        layout, flat0, root, floored = self.laplace()
        cis, methods, checks, failed, retried = {}, {}, {}, {}, []
        for name in ("log_lambda_b", "log_lambda_d"):
            rate = name.removeprefix("log_")
            i = layout[name][0].start
            se = float(root[i].norm())
            v = float(flat0[i])
            why = self.laplace_check(layout, flat0, root, floored, name)
            checks[rate] = why or "ok"
            if method == "profile" or why:
                prof = self.profile_interval(name, se)
                cis[name] = (prof.lo, prof.hi) if prof.ok else (math.nan, math.nan)
                methods[rate] = "profile" if method == "profile" else "profile (Laplace unreliable)"
                if not prof.ok:
                    failed[rate] = prof.failure
                if prof.retried:
                    retried.append(rate)
            else:
                cis[name] = (math.exp(v - Z95 * se), math.exp(v + Z95 * se))
                methods[rate] = "laplace"
        f_hat, G = self.band(layout, flat0, root)
        with torch.no_grad():
            _, _, y = self.transitions()
        sd = np.linalg.norm(G, axis=1)
        used = sorted({m.split(" ")[0] for r, m in methods.items() if r not in failed})
        interval_method = used[0] if len(used) == 1 else ("mixed" if used else "none")
        if method != "profile" and "profile" in used:
            fell_back = [r for r, m in methods.items() if m != "laplace" and r not in failed]
            interval_method = "profile for " + ", ".join(fell_back) + " (Laplace unreliable)"
        extra: dict[str, object] = {"laplace_check": checks}
        if retried:
            extra["profile_retried"] = retried
        if failed:
            extra["profile_failures"] = failed
        not_converged = self.convergence(layout, flat0, root, floored)
        supported = delta_modes(self.grid, f_hat, G)
        if self.kind == "gaussian":
            extra["scale"] = float(self.log_scale.exp())
        return Estimates(
            lambda_b=float(self.log_lambda_b.detach().exp()),
            lambda_d=float(self.log_lambda_d.detach().exp()),
            lambda_b_ci=cis["log_lambda_b"],
            lambda_d_ci=cis["log_lambda_d"],
            grid=self.grid,
            f_tau=f_hat,
            f_lo=np.clip(f_hat - Z95 * sd, 0.0, None),
            f_hi=f_hat + Z95 * sd,
            times=self.times,
            mean=y.cpu().numpy(),
            interval_method=interval_method,
            extra=extra,
            supported=supported,
            candidates=delta_modes(self.grid, f_hat, G, test_dips=False),
            rate_methods=methods,
            not_identified=failed,
            convergence_warning=not_converged,
            # a family alone calls only what its modes back (a test's own family: no name)
            no_call_reason=single_family_no_call(
                getattr(self.family, "family_name", ""), len(supported)
            ),
        )
