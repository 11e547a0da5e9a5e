"""What the Density-PINN estimators share, so the workload reads any of them one way.

``DensityEstimator`` is the base of the likelihood PINN, the family-selecting ``auto`` module and
the authors' VAE PINN: ``estimates(method, seed)`` gives rates with intervals and f_τ with a band,
``notes(family)`` what the report says beside them (the family chosen, a convergence warning).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

import lightning as L
import torch

from cellsweep.tasks.density_pinn.estimates import Estimates

FAMILY_TAG = "density_family"  # a run tag, by the name train.py writes it under


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
