"""The LightningModule that learns S_θ(c) from snapshot pairs.

Logged metrics (per epoch):
- ``train/loss``, ``val/loss``: the configured L1/L2 loss on training / held-out replicate pairs;
- ``val/S_rel_err``: relative L2 error of S_θ against the analytic (parabolic-limit) S over the
  signal levels the particles visit, where one is known;
- ``val/S_rel_err_interior``: the same over the signal levels of the interior faces only, the
  ones the losses see: next to a no-flux wall the flux is zero whatever S is, so no data can
  identify S between the wall and the first interior face (the shaded bands of the S plot);
- ``val/pred_err``: ‖e^{Δ𝓛_θ} ρ̂(t_a) − ρ̂(t_a+Δ)‖ / ‖ρ̂(t_a+Δ) − ρ̂(t_a)‖ on an independent
  replicate, averaged over windows: no ground truth needed, so a study can optimize it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import lightning as L
import torch
from torch import nn

from cellsweep.tasks.chemotaxis.config import ChemotaxisCfg
from cellsweep.tasks.chemotaxis.limits import parabolic_diffusion, parabolic_sensitivity
from cellsweep.tasks.chemotaxis.losses import pair_loss, residual
from cellsweep.tasks.chemotaxis.operators import apply_operator, face_positions, generator_matrix

EVAL_POINTS = 201


@dataclass
class EvalGrid:
    """Where the learned S is compared and reported: ``EVAL_POINTS`` values of c over the range
    of the signal, the part of it the losses see (the interior faces), and the analytic S if
    the data are simulated."""

    c: torch.Tensor
    c_range: tuple[float, float]
    seen: tuple[float, float]
    S: Callable[[torch.Tensor], torch.Tensor] | None

    @classmethod
    def of(cls, cfg: ChemotaxisCfg) -> EvalGrid:
        """The grid of a task config."""
        sim = cfg.sim
        c_lo, c_hi = sim.signal.c_range(sim.length)
        faces_c = sim.signal.c(face_positions(sim.length, cfg.bins))
        S = parabolic_sensitivity(sim) if cfg.data.source == "simulate" else None
        c = torch.linspace(c_lo, c_hi, EVAL_POINTS, dtype=torch.float64)
        return cls(c, (c_lo, c_hi), (float(faces_c.min()), float(faces_c.max())), S)

    @property
    def interior(self) -> torch.Tensor:
        """The grid points inside the range the losses see."""
        return (self.c >= self.seen[0] - 1e-12) & (self.c <= self.seen[1] + 1e-12)


class ChemotaxisEstimator(L.LightningModule):
    """S_θ(c) = MLP(normalized c); 𝓛_S on M bins; loss by ``form`` at window τ.

    Takes the task's config, as the Density-PINN estimators take theirs: the bins' faces, the
    window τ, the loss form, D, the optimizer and the validation horizon all come from it, and
    ``grid`` says where S is compared (and against which analytic S, if one is known).
    """

    def __init__(self, net: nn.Module, cfg: ChemotaxisCfg, grid: EvalGrid) -> None:
        super().__init__()
        sim, optim = cfg.sim, cfg.optim
        faces = face_positions(sim.length, cfg.bins)
        self.net = net.double()
        self.register_buffer("faces_c", sim.signal.c(faces).double())
        self.register_buffer("faces_dc", sim.signal.dc(faces).double())
        self.c_lo, self.c_hi = float(grid.c_range[0]), float(grid.c_range[1])
        self.h, self.tau = sim.length / cfg.bins, cfg.window_steps * sim.dt
        self.form, self.horizon = cfg.loss.form, cfg.val.horizon_steps * sim.dt
        self.lr, self.weight_decay = optim.lr, optim.weight_decay
        self.scheduler, self.min_lr_ratio = optim.scheduler, optim.min_lr_ratio
        D = cfg.estimator.D if cfg.estimator.D is not None else parabolic_diffusion(sim)
        log_d = torch.tensor(math.log(D), dtype=torch.float64)
        if cfg.estimator.learn_D:
            self.log_D = nn.Parameter(log_d)
        else:
            self.register_buffer("log_D", log_d)
        self.register_buffer("eval_c", grid.c.double())
        self.register_buffer("S_true", None if grid.S is None else grid.S(grid.c).double())
        self.register_buffer("eval_interior", grid.interior)

    @property
    def D(self) -> torch.Tensor:
        """D, fitted on the log scale so that it stays positive."""
        return self.log_D.exp()

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        """S_θ(c) for a tensor of signal levels."""
        span = max(self.c_hi - self.c_lo, 1e-12)
        z = (2.0 * (c - self.c_lo) / span - 1.0).unsqueeze(-1)
        return self.net(z).squeeze(-1)

    def _op(self):
        v = self(self.faces_c) * self.faces_dc
        D = self.D
        return lambda rho: apply_operator(rho, v, D, self.h)

    def _loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        r = residual(
            self.form, self._op(), batch["rho0"], batch["rho1"], self.tau, batch.get("rho_prev")
        )
        return pair_loss(r, self.tau, self.h)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """The configured loss on a batch of snapshot pairs; train/loss is the epoch's mean,
        weighted by batch size. It is summed here and logged once, at the epoch's last batch:
        a ``self.log`` costs ~1 ms, as much as a step of this model (trial_efficiency bench)."""
        loss = self._loss(batch)
        n = batch["rho0"].shape[0]
        if batch_idx == 0:
            self._epoch_loss, self._epoch_n = torch.zeros_like(loss.detach()), 0
        self._epoch_loss = self._epoch_loss + loss.detach() * n
        self._epoch_n += n
        if batch_idx + 1 >= self.trainer.num_training_batches:
            mean = self._epoch_loss / self._epoch_n
            self.log("train/loss", mean, on_step=False, on_epoch=True, prog_bar=True, batch_size=1)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        """Held-out loss and prediction error (no truth needed), and S's error where known."""
        n = batch["rho0"].shape[0]
        self.log("val/loss", self._loss(batch), prog_bar=True, batch_size=n)
        self.log(
            "val/pred_err",
            self.prediction_error(batch["win_a"], batch["win_b"]),
            prog_bar=True,
            batch_size=n,
        )
        err = self.sensitivity_error()
        if err is not None:
            self.log("val/S_rel_err", err, prog_bar=True, batch_size=n)
        inner = self.sensitivity_error(interior=True)
        if inner is not None:
            self.log("val/S_rel_err_interior", inner, batch_size=n)
        if self.log_D.requires_grad:
            self.log("val/D", self.D, batch_size=n)

    @torch.no_grad()
    def prediction_error(self, rho_a: torch.Tensor, rho_b: torch.Tensor) -> torch.Tensor:
        """Mean relative error of exact (K-S) propagation over the held-out windows."""
        v = self(self.faces_c) * self.faces_dc
        prop = torch.linalg.matrix_exp(self.horizon * generator_matrix(v, self.D, self.h))
        pred = rho_a @ prop.T
        num = (pred - rho_b).norm(dim=-1)
        den = (rho_b - rho_a).norm(dim=-1).clamp_min(1e-300)
        return (num / den).mean()

    @torch.no_grad()
    def sensitivity_error(self, interior: bool = False) -> torch.Tensor | None:
        """‖S_θ − S‖ / ‖S‖ on a uniform grid of visited c (``interior``: only the c of the
        interior faces' span), or None without a known S."""
        if self.S_true is None or (interior and self.eval_interior is None):
            return None
        c, s = self.eval_c, self.S_true
        if interior:
            c, s = c[self.eval_interior], s[self.eval_interior]
        return (self(c) - s).norm() / s.norm().clamp_min(1e-300)

    def configure_optimizers(self):
        """Adam, with a cosine decay over the run unless ``scheduler=none``."""
        opt = torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        if self.scheduler == "none":
            return opt
        epochs = max(int(self.trainer.max_epochs or 1), 1)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=epochs, eta_min=self.lr * self.min_lr_ratio
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
