"""Which density family do the data support? One rule, used by ``model.family=auto`` and by the
recovery benchmark alike.

The comparison is the cross-validated log-likelihood of whole cells: the cells are split into
k folds, each family is fitted k times with one fold held out, and every cell's transitions are
scored once, by the fit that did not see it (k-fold over cells has k/(k−1)·n held-out cells
where one 20 % split has 0.2·n, so the paired comparison has about five times the cells).
Cells, not transitions, are the unit: a cell's transitions share its history.

Rules (``RULES``), over the per-cell differences d_i = NLL_f(cell i) − NLL_best(cell i):
- ``argmin``: the lowest total held-out NLL;
- ``1se``: the simplest family (gamma, then mixture2, then free) whose total is within one
  standard error of the lowest, SE = sd(d)·√n: extra flexibility must pay for itself by more than
  the noise of the comparison.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from cellsweep.tasks.density_pinn.modes import Z95

ORDER = ("gamma", "mixture2", "free")  # simplest first
RULES = ("1se", "argmin")
DEFAULT_RULE = "1se"


def cell_folds(n_cells: int, k: int, seed: int) -> list[np.ndarray]:
    """k disjoint held-out sets of cell indices (a seeded permutation), every cell in one."""
    k = int(min(max(2, k), n_cells))
    perm = np.random.default_rng(seed + 7919).permutation(n_cells)
    return [np.sort(part) for part in np.array_split(perm, k)]


@dataclass
class Selection:
    """Which family was chosen, by which rule, and the held-out evidence behind the choice."""

    family: str
    rule: str
    best: str  # the lowest held-out NLL
    nll: dict[str, float]  # mean held-out NLL per transition
    se: dict[str, float]  # its standard error over cells
    excess: dict[str, float]  # total NLL over the best's, nats summed over cells
    excess_se: dict[str, float]  # the paired standard error of that excess
    n_cells: int

    @property
    def reason(self) -> str:
        """One line on why ``family`` was chosen."""
        f, b = self.family, self.best
        if f == b:
            others = [
                f"{g} +{self.excess[g]:.1f} ± {self.excess_se[g]:.1f}"
                for g in ORDER
                if g in self.nll and g != f
            ]
            head = f"{f}: lowest held-out NLL over {self.n_cells} cells"
            if self.rule == "1se" and ORDER.index(f) > 0:
                head += ", and no simpler family within one standard error"
            return head + (f" (nats above it: {', '.join(others)})" if others else "")
        return (
            f"{f}: the simplest family within one standard error of the best ({b}): "
            f"+{self.excess[f]:.1f} ± {self.excess_se[f]:.1f} nats over {self.n_cells} cells"
        )


@dataclass
class ComponentEvidence:
    """Two gamma components against one, on the same held-out cells (nats, summed over cells)."""

    gain: float  # NLL(gamma) − NLL(mixture2): what the second component buys
    se: float  # the paired standard error of that gain
    n_cells: int

    @property
    def supported(self) -> bool:
        """Significant, not just preferred: the gain exceeds 1.96 standard errors (the family
        choice needs one; a call of two pathways is held to the dip test's 95 % standard)."""
        return self.gain > Z95 * self.se

    @property
    def reason(self) -> str:
        """One line a reader can check against the logged held-out NLLs."""
        return (
            f"two components beat one gamma on held-out cells by {self.gain:.1f} ± {self.se:.1f} "
            f"nats over {self.n_cells} cells"
        )


def component_evidence(per_cell: Mapping[str, np.ndarray]) -> ComponentEvidence | None:
    """The paired held-out comparison of mixture2 with gamma (None without both), which is
    what says that two pathways, not one, produced the cells."""
    if "gamma" not in per_cell or "mixture2" not in per_cell:
        return None
    d = np.asarray(per_cell["gamma"], dtype=float) - np.asarray(per_cell["mixture2"], dtype=float)
    se = float(d.std(ddof=1) * np.sqrt(d.size)) if d.size > 1 else float("inf")
    return ComponentEvidence(gain=float(d.sum()), se=se, n_cells=int(d.size))


def select_family(
    per_cell: Mapping[str, np.ndarray], transitions_per_cell: int, rule: str = DEFAULT_RULE
) -> Selection:
    """The family chosen by ``rule`` from each family's held-out NLL per cell (same cells, same
    order for every family)."""
    if rule not in RULES:
        raise ValueError(f"unknown selection rule {rule!r}; expected one of {RULES}")
    fams = [f for f in ORDER if f in per_cell] + [f for f in per_cell if f not in ORDER]
    nll = {f: np.asarray(per_cell[f], dtype=float) for f in fams}
    n = next(iter(nll.values())).size
    m = max(int(transitions_per_cell), 1)
    totals = {f: float(v.sum()) for f, v in nll.items()}
    best = min(fams, key=lambda f: totals[f])
    excess, excess_se = {}, {}
    for f in fams:
        d = nll[f] - nll[best]
        excess[f] = float(d.sum())
        excess_se[f] = float(d.std(ddof=1) * np.sqrt(n)) if n > 1 else 0.0
    chosen = best
    if rule == "1se":
        chosen = next(f for f in fams if excess[f] <= excess_se[f])
    return Selection(
        family=chosen,
        rule=rule,
        best=best,
        nll={f: totals[f] / (n * m) for f in fams},
        se={f: float(v.std(ddof=1) / np.sqrt(n) / m) if n > 1 else 0.0 for f, v in nll.items()},
        excess=excess,
        excess_se=excess_se,
        n_cells=n,
    )
