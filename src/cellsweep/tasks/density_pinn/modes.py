"""Modes of a fitted f_τ that the data support, each with its own 95 % interval.

A local maximum of the point estimate is a candidate (``peak_indices``). Two neighbouring
candidates stay apart only if the dip between them is significant: the density at the dip lies
below each peak by more than 1.96 standard errors. Otherwise the lower peak is dropped and the
test repeats, so the serial/parallel call rests on supported modes only.

A dip is not the only evidence of two pathways. Under ``model.family=auto`` the two-component
family is compared with one gamma on held-out cells; when it wins by more than 1.96 standard
errors of that paired comparison (``selection.ComponentEvidence``), the data support two components,
and every local maximum of the chosen mixture's estimate is a supported mode (``support``
says which evidence counts). Two overlapping pathways leave a shallow dip that 50 cells cannot
make significant on their own (the ``weak_bimodal`` benchmark case: a dip at 67 % of the lower
peak is significant in about half the seeds), while the held-out comparison sees the whole shape.

Two ways to get the uncertainty:
- ``delta``: the Laplace covariance carried to f by its Jacobian (likelihood PINN). The dip test
  is on log f(peak) − log f(dip), with the covariance of the two (not two separate bands); a mode's
  interval is the delta-method interval of the root of f′, m̂ ± 1.96·‖∂f′(m̂)/∂θ·R‖ / |f″(m̂)|;
- ``band``: a pointwise band only (the authors' model's latent samples): a dip counts when the
  band's top at the dip is below its bottom at both peaks, and a mode's interval is the stretch
  around it where the band's top reaches the band's bottom at the peak.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from cellsweep.tasks.density_pinn.delays import peak_indices

Z95 = 1.959963984540054


# The free family's shape gets no serial/parallel call of its own (issue 29): its dip test was
# right in 0/4 bimodal and 3/5 weakly bimodal seeds (benchmarks/README.md): the roughness prior
# enters the Laplace covariance and flattens dips, and its kernels add small peaks.
FREE_NO_CALL = (
    "no test of the free family's modes is calibrated (its roughness prior flattens dips, its "
    "kernels add peaks): model.family=auto makes the call"
)

# A single family run alone has no comparison to back "serial": one gamma has one mode by
# construction, and a mixture without a significant dip may be one pathway or two that overlap
# (benchmarks/README.md: gamma alone called 10/10 bimodal seeds serial, mixture2 alone 5/10
# weakly bimodal ones). "parallel" from a significant dip stands on its own.
GAMMA_NO_CALL = (
    "one gamma has one mode by construction, so it cannot tell serial from parallel: "
    "model.family=auto compares it with two components on held-out cells"
)
MIXTURE_NO_CALL = (
    "no significant dip between the two components: one pathway or two that overlap; "
    "model.family=auto tells them apart on held-out cells"
)


def single_family_no_call(family: str, supported: int) -> str:
    """Why a family fitted alone makes no call ("" where its modes back one)."""
    if family == "free":
        return FREE_NO_CALL
    if family == "gamma":
        return GAMMA_NO_CALL
    if family == "mixture2" and supported < 2:
        return MIXTURE_NO_CALL
    return ""


DIP = "dip"  # the dip to the next mode is significant against the band
HELD_OUT = "held-out likelihood"  # two components beat one on held-out cells


@dataclass
class Mode:
    """One reported mode of f_tau with its interval and what the data say in its favour."""

    t: float
    lo: float
    hi: float
    support: str = DIP


def _merge(peaks: list[int], f: np.ndarray, apart) -> list[int]:
    """Drop the lower peak of the first pair whose dip is not significant, until none is left."""
    peaks = list(peaks)
    changed = True
    while changed and len(peaks) > 1:
        changed = False
        for a, b in itertools.pairwise(peaks):
            d = a + int(np.argmin(f[a : b + 1]))
            if not (apart(a, d) and apart(b, d)):
                peaks.remove(a if f[a] < f[b] else b)
                changed = True
                break
    return peaks


def delta_modes(
    grid: np.ndarray, f: np.ndarray, jac_root: np.ndarray, test_dips: bool = True
) -> list[Mode]:
    """Supported modes from f on ``grid`` and ∂f/∂θ·R [len(grid), n_params] (R Rᵀ = Σ); with
    ``test_dips=False`` every candidate, with its interval (support then comes from elsewhere)."""
    f = np.asarray(f, dtype=float)
    G = np.asarray(jac_root, dtype=float)

    def apart(p: int, d: int) -> bool:
        if f[d] <= 0:
            return True
        diff = G[p] / f[p] - G[d] / f[d]
        return bool(np.log(f[p] / f[d]) > Z95 * np.linalg.norm(diff))

    out = []
    h = float(grid[1] - grid[0])
    peaks = _merge(peak_indices(f), f, apart) if test_dips else peak_indices(f)
    for i in peaks:
        curv = (f[i + 1] - 2 * f[i] + f[i - 1]) / h**2
        slope_grad = (G[i + 1] - G[i - 1]) / (2 * h)
        sd = float(np.linalg.norm(slope_grad) / -curv) if curv < 0 else np.inf
        half = min(Z95 * sd, float(grid[-1] - grid[0]))
        lo, hi = max(grid[0], grid[i] - half), min(grid[-1], grid[i] + half)
        out.append(Mode(float(grid[i]), float(lo), float(hi), DIP if test_dips else HELD_OUT))
    return out


def band_modes(grid: np.ndarray, f: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> list[Mode]:
    """Supported modes from a pointwise band [lo, hi] around f."""
    f, lo, hi = (np.asarray(x, dtype=float) for x in (f, lo, hi))

    def apart(p: int, d: int) -> bool:
        return bool(hi[d] < lo[p])

    out = []
    for i in _merge(peak_indices(f), f, apart):
        a = b = i
        while a > 0 and hi[a - 1] >= lo[i]:
            a -= 1
        while b < f.size - 1 and hi[b + 1] >= lo[i]:
            b += 1
        out.append(Mode(float(grid[i]), float(grid[a]), float(grid[b])))
    return out
