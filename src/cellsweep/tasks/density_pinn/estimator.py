"""What the Density-PINN estimators share, so the workload reads any of them one way.

``DensityEstimator`` is the base of the likelihood PINN, the family-selecting ``auto`` module and
the authors' VAE PINN: ``estimates(method, seed)`` gives rates with intervals and f_τ with a band,
``notes(family)`` what the report says beside them (the family chosen, a convergence warning).
``TransitionNLL`` scores held-out traces by the exact transition law, for both estimators.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

import lightning as L
import torch
from torch import nn

from cellsweep.tasks.density_pinn.estimates import Estimates
from cellsweep.tasks.density_pinn.likelihood import PoissonTransitions, gaussian_transition_nll

FAMILY_TAG = "cellsweep.density_family"


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


@dataclass
class Notes:
    """What a fit adds to its report beside the estimates."""

    family: str  # the density family the estimates are of
    info: dict[str, Any] = field(default_factory=dict)  # into estimates.json
    tags: dict[str, str] = field(default_factory=dict)  # run tags
    lines: list[str] = field(default_factory=list)  # summary lines, before the estimates'


class DensityEstimator(L.LightningModule, abc.ABC):
    """A Density-PINN estimator: a LightningModule that reports ``Estimates`` after its fit."""

    @abc.abstractmethod
    def estimates(self, method: str | None = None, seed: int = 0) -> Estimates:
        """Rates with 95 % intervals, f_τ with a band and the supported modes, after the fit.

        ``method`` names how intervals are found where an estimator offers a choice (None: the
        configured one); ``seed`` makes any sampling in it reproducible."""

    def notes(self, family: str) -> Notes:
        """The report's notes for a fit of the configured ``family``: the family, as a tag."""
        return Notes(family, tags={FAMILY_TAG: family})

    def final_state(self) -> dict[str, torch.Tensor]:
        """What model.pt holds: the state of the model the estimates are of (the data are
        non-persistent buffers, so they are not in it)."""
        return self.state_dict()
