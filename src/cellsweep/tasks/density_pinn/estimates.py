"""What both estimators report after a fit: rates with intervals, f_τ with a band, the modes,
and what a reader must not take on trust (issue 29): a fit that has not converged makes no
serial/parallel call and backs no band; a rate whose profile found no interval has none; a family
whose modes no test can support reports its shape without a call."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cellsweep.tasks.density_pinn.delays import find_modes
from cellsweep.tasks.density_pinn.modes import Mode, band_modes

NO_CALL = "no call"
RATES = ("lambda_b", "lambda_d")
RATE_LABELS = {"lambda_b": "λ_b", "lambda_d": "λ_d"}


@dataclass
class Estimates:
    """What a fit reports: rates with intervals, the density with its band, and its modes."""

    lambda_b: float
    lambda_d: float
    lambda_b_ci: tuple[float, float]
    lambda_d_ci: tuple[float, float]
    grid: np.ndarray
    f_tau: np.ndarray
    f_lo: np.ndarray
    f_hi: np.ndarray
    times: np.ndarray  # observation times
    mean: np.ndarray  # fitted reporter mean at the observation times
    interval_method: str
    extra: dict[str, object] = field(default_factory=dict)
    supported: list[Mode] | None = None  # modes the data support (modes.py); None: from the band
    candidates: list[Mode] | None = None  # every local maximum, with its interval (modes.py)
    rate_methods: dict[str, str] = field(default_factory=dict)  # rate -> its interval's method
    not_identified: dict[str, str] = field(default_factory=dict)  # rate -> why it has no interval
    convergence_warning: str = ""  # why the fit has not converged ("" if it has)
    no_call_reason: str = ""  # why the shape gets no serial/parallel call ("" if it gets one)

    def __post_init__(self) -> None:
        if self.supported is None:
            self.supported = band_modes(self.grid, self.f_tau, self.f_lo, self.f_hi)

    @property
    def reported(self) -> list[Mode]:
        """The supported modes as reported: none where there is no call (a mode count is a
        call)."""
        return [] if self.why_no_call else list(self.supported or [])

    @property
    def modes(self) -> list[float]:
        """Locations of the supported modes."""
        return [m.t for m in self.reported]

    @property
    def mode_intervals(self) -> list[tuple[float, float]]:
        """The 95 % interval of each supported mode, in the order of ``modes``."""
        return [(m.lo, m.hi) for m in self.reported]

    @property
    def mode_support(self) -> list[str]:
        """What supports each mode: its dip, or held-out likelihood (modes.py)."""
        return [m.support for m in self.reported]

    @property
    def peaks(self) -> list[float]:
        """Every local maximum of the estimate: its shape, whether or not a mode test backs it."""
        return find_modes(self.grid, self.f_tau)

    @property
    def unsupported_modes(self) -> list[float]:
        """Local maxima of the estimate that no evidence supports."""
        kept = set(self.modes)
        return [m for m in self.peaks if m not in kept]

    @property
    def converged(self) -> bool:
        """Whether the fit reached its optimum (the estimator's own check)."""
        return not self.convergence_warning

    @property
    def call(self) -> str:
        """One supported mode: a serial pathway; two or more: parallel pathways of different
        speeds; ``NO_CALL`` where the fit has not converged or no mode test backs a call."""
        if self.why_no_call:
            return NO_CALL
        return "parallel" if len(self.modes) >= 2 else "serial"

    @property
    def why_no_call(self) -> str:
        """Why there is no serial/parallel call ("" if there is one)."""
        if not self.converged:
            return "the fit has not converged"
        return self.no_call_reason

    @property
    def band_note(self) -> str:
        """Why f_τ's band is not backed ("" if it is): a fit short of its optimum, or a Laplace
        covariance whose rates have no interval, backs no band."""
        if not self.converged:
            return "fit not converged"
        if self.not_identified:
            return ", ".join(RATE_LABELS[r] for r in self.not_identified) + " not identified"
        return ""

    def method_of(self, rate: str) -> str:
        """How the interval of ``rate`` (lambda_b or lambda_d) was found."""
        if rate in self.not_identified:
            return "not identified on this fit"
        return self.rate_methods.get(rate, self.interval_method)

    def ci(self, rate: str) -> tuple[float, float] | None:
        """The 95 % interval of ``rate``, None where the rate is not identified."""
        if rate in self.not_identified:
            return None
        return self.lambda_b_ci if rate == "lambda_b" else self.lambda_d_ci


def wasserstein1(grid: np.ndarray, f_a: np.ndarray, f_b: np.ndarray) -> float:
    """W1 = ∫|F_a − F_b| dt over the grid, the CDFs as cumulative trapezoids of the densities.

    Mass beyond the grid's end is not renormalized away: an estimate that puts mass past the
    last observation pays for it."""

    def cdf(f: np.ndarray) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum(0.5 * np.diff(grid) * (f[1:] + f[:-1]))])

    return float(np.trapezoid(np.abs(cdf(f_a) - cdf(f_b)), grid))
