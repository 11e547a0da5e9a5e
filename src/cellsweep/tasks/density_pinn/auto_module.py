"""``model.family=auto``: one run fits gamma, mixture2 and free on the same cells, selects the
family by cross-validated held-out likelihood (``selection.py``), and reports the chosen
family's fit.

Every family is fitted k times with one fold of cells held out (the comparison) and once on all
cells (the estimates). Each training step advances every fit that has not converged by one
L-BFGS step, and the run stops once all have; each validation scores every cell once, by the
fit that did not see it. Logged per epoch: ``val/nll_heldout/<family>`` and
``val/nll_heldout_se/<family>`` (mean per transition and its standard error over cells),
``val/nll_heldout`` (the chosen family's), ``train/loss`` and the truth metrics of the chosen
family's fit on all cells.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from cellsweep.tasks.density_pinn.estimates import Estimates
from cellsweep.tasks.density_pinn.estimator import FAMILY_TAG, DensityEstimator, Notes
from cellsweep.tasks.density_pinn.likelihood_module import CONVERGED, LikelihoodPINN
from cellsweep.tasks.density_pinn.selection import (
    ComponentEvidence,
    Selection,
    component_evidence,
    select_family,
)


class AutoFamilyPINN(DensityEstimator):
    """Every family fitted per fold and on all cells; reports the family CV selects."""

    def __init__(
        self,
        make: Callable[[str, np.ndarray, np.ndarray], LikelihoodPINN],
        families: Sequence[str],
        values: np.ndarray,
        folds: Sequence[np.ndarray],
        rule: str,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.families, self.rule = tuple(families), rule
        n = values.shape[0]
        self.folds = [np.asarray(f) for f in folds]
        fold_fits: dict[str, nn.Module] = {}
        for fam in self.families:
            fits = []
            for held in self.folds:
                keep = np.setdiff1d(np.arange(n), held)
                fits.append(make(fam, values[keep], values[held]))
            fold_fits[fam] = nn.ModuleList(fits)
        self.fold_fits = nn.ModuleDict(fold_fits)
        self.full = nn.ModuleDict({fam: make(fam, values, values) for fam in self.families})
        self.transitions_per_cell = values.shape[1] - 1
        self.selection: Selection | None = None
        self._last: dict[int, float] = {}  # last loss of each fit, by index in _fits()
        self._done: set[int] = set()

    def _fits(self) -> list[LikelihoodPINN]:
        out = []
        for fam in self.families:
            out.extend(self.fold_fits[fam])
            out.append(self.full[fam])
        return out

    @property
    def chosen(self) -> LikelihoodPINN:
        """The selected family's fit on all cells: the one the estimates are of."""
        fam = self.selection.family if self.selection else self.families[0]
        return self.full[fam]

    def components(self) -> ComponentEvidence | None:
        """mixture2 against gamma on the held-out cells."""
        return component_evidence(self.heldout_per_cell())

    def estimates(self, method: str | None = None, seed: int = 0) -> Estimates:
        """The chosen family's estimates, with its modes called as ``family_estimates`` does."""
        fam = self.selection.family if self.selection else self.families[0]
        return self.family_estimates(fam, method, seed)

    def family_estimates(self, family: str, method: str | None = None, seed: int = 0) -> Estimates:
        """One family's estimates on all cells, under the product's mode rule, so that any
        selection rule's pick is scored as the user would see it: when that family is the
        mixture and two components beat one on held-out cells, every local maximum of its
        estimate is a supported mode (modes.py)."""
        est = self.full[family].estimates(method, seed)
        if family != "free":  # the held-out comparison of the families backs their call
            est.no_call_reason = ""
        evidence = self.components()
        if evidence is not None:
            est.extra["component_evidence"] = {
                "gain_nats": evidence.gain,
                "se_nats": evidence.se,
                "supported": evidence.supported,
            }
        two = evidence is not None and evidence.supported and len(est.candidates or []) >= 2
        if family == "mixture2" and two:
            by_dip = {m.t: m for m in est.supported}
            est.supported = [by_dip.get(m.t, m) for m in est.candidates]
            est.extra["mode_support_reason"] = evidence.reason
        elif family == "free" and two:  # the held-out comparison backs the call free lacks
            est.supported, est.no_call_reason = list(est.candidates), ""
            est.extra["mode_support_reason"] = evidence.reason
        return est

    def final_state(self) -> dict[str, torch.Tensor]:
        """The chosen family's fit on all cells: the model the estimates are of. The fold fits
        stay in the run as metrics (val/nll_heldout/<family>) and the selection's summary."""
        return self.chosen.state_dict()

    def notes(self, family: str) -> Notes:
        """The selected family, and why: the rule, the folds, each family's held-out NLL."""
        sel = self.selection
        info = {
            "family_requested": family,
            "selection": {
                "rule": sel.rule,
                "folds": len(self.folds),
                "best": sel.best,
                "nll_heldout": sel.nll,
                "nll_heldout_se": sel.se,
                "excess_nats": sel.excess,
                "excess_se_nats": sel.excess_se,
                "reason": sel.reason,
            },
        }
        line = f"family (auto, {len(self.folds)}-fold CV over cells, rule {sel.rule}): "
        return Notes(sel.family, info, {FAMILY_TAG: sel.family}, [line + sel.reason])

    # -- Lightning -----------------------------------------------------------------------------
    def configure_optimizers(self):
        """One optimizer per fit, since each fit steps on its own."""
        return [fit.configure_optimizers() for fit in self._fits()]

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        """One L-BFGS step of every fit that has not converged."""
        opts = self.optimizers(use_pl_optimizer=False)
        opts = opts if isinstance(opts, list) else [opts]
        for i, (fit, opt) in enumerate(zip(self._fits(), opts, strict=True)):
            if i in self._done:
                continue

            def closure(fit: LikelihoodPINN = fit, opt: torch.optim.Optimizer = opt):
                opt.zero_grad()
                loss = fit.objective()
                loss.backward()
                return loss

            opt.step(closure)
            with torch.no_grad():
                loss = float(fit.objective())
            if i in self._last and self._last[i] - loss < CONVERGED:
                self._done.add(i)
            self._last[i] = loss
        if len(self._done) == len(opts):
            self.trainer.should_stop = True  # every fit has converged: the rest is a cap
        with torch.no_grad():
            train = self.chosen.nll(self.chosen.fit_nll).mean()
        self.log("train/loss", train, on_step=False, on_epoch=True, prog_bar=True, batch_size=1)

    @torch.no_grad()
    def heldout_per_cell(self) -> dict[str, np.ndarray]:
        """Each family's NLL of every cell (summed over its transitions), by the fit that did not
        see it."""
        n = sum(f.size for f in self.folds)
        out = {}
        for fam in self.families:
            per = np.empty(n)
            for held, fit in zip(self.folds, self.fold_fits[fam], strict=True):
                per[held] = fit.nll(fit.val_nll).sum(-1).cpu().numpy()
            out[fam] = per
        return out

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        """Select the family by held-out NLL and log every family's score."""
        sel = select_family(self.heldout_per_cell(), self.transitions_per_cell, self.rule)
        self.selection = sel
        for fam in self.families:
            self.log(f"val/nll_heldout/{fam}", sel.nll[fam], batch_size=1)
            self.log(f"val/nll_heldout_se/{fam}", sel.se[fam], batch_size=1)
        chosen = sel.nll[sel.family]
        self.log("val/loss", chosen, batch_size=1)
        self.log("val/nll_heldout", chosen, prog_bar=True, batch_size=1)
        self.log("val/family_index", float(self.families.index(sel.family)), batch_size=1)
        for key, value in self.chosen.truth_metrics().items():
            self.log(key, value, batch_size=1)

    def on_train_end(self) -> None:
        """A fit stopped before its first validation (a tiny budget) still has a selection."""
        if self.selection is None:
            self.selection = select_family(
                self.heldout_per_cell(), self.transitions_per_cell, self.rule
            )
