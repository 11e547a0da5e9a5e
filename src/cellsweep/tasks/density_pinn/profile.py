"""Profile-likelihood intervals of a log-rate that are intervals, or a stated failure.

The 95 % profile interval of x = log λ is where the signed root r(x) = sign(x − x̂)·√(2ΔNLL(x))
lies within ±1.96, ΔNLL being the NLL with the other parameters refitted at x, less its minimum.
A quick secant search from the Laplace guess x̂ ± 1.96·se usually finds both ends in a few refits.
It can also fail silently, and did (issue 29): when a refit at x finds an NLL below the profile's
own minimum (the fit had stopped short of its optimum, or the refit landed in another basin), r
is clipped to 0, the secant steps to the wrong side and the loop ends with an "end" at the
estimate, e.g. λ_b = 225, "95 %" [225, 289.5]. So each end is checked:

- reached: |r(end)| within ``R_TOL`` of 1.96, and further from x̂ than ``MIN_GAP``;
- else retried by bracketing: steps outward from x̂, doubling from a small one, each refit warm
  from the previous one, until r passes 1.96; then bisection inside the bracket;
- else (r does not reach 1.96 within e^±``limit`` of the estimate, or the profile dips below
  its minimum at the estimate by more than ``LOWER_NATS``) there is no interval: the rate is
  "not identified on this fit", with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

Z95 = 1.959963984540054
R_TOL = 0.05  # |r| − 1.96 at an accepted end (refits are noisy at ~0.05 nats: dr = dNLL/r)
MIN_GAP = 1e-3  # an end closer than this to x̂ (in log, 0.1 %) sits at the estimate
LOWER_NATS = 0.1  # a refit this far below the profile's minimum: the estimate is not optimal
# (the likelihood PINN's own convergence check allows the same 0.1 nats: NEWTON_NATS)


@dataclass
class ProfileInterval:
    """A profile interval on the rate's scale, or why there is none (``failure``)."""

    lo: float
    hi: float
    failure: str = ""  # "" when both ends reached 1.96
    retried: bool = False  # the quick secant search failed on a side and was redone

    @property
    def ok(self) -> bool:
        """Both ends found: the interval is a 95 % profile interval."""
        return not self.failure


class _Profile:
    """Refits of everything but one log-rate parameter, with the lowest NLL seen."""

    def __init__(self, module: nn.Module, name: str, loss: Callable[[], torch.Tensor]) -> None:
        self.module, self.name, self.loss = module, name, loss
        self.param = getattr(module, name)
        self.best = float(self.param.detach())
        self.others = [p for n, p in module.named_parameters() if n != name and p.requires_grad]
        self.lowest = (math.inf, self.best)  # (NLL, x) of the lowest refit

    def refit(self, value: float) -> float:
        """The NLL with the others refitted at ``value`` (L-BFGS, warm from the current state)."""
        with torch.no_grad():
            self.param.fill_(value)
        opt = torch.optim.LBFGS(self.others, max_iter=40, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad()
            out = self.loss()
            out.backward()
            return out

        self.param.requires_grad_(False)
        try:
            opt.step(closure)
        finally:
            self.param.requires_grad_(True)
        with torch.no_grad():
            nll = float(self.loss())
        if not math.isfinite(nll):
            nll = math.inf
        if nll < self.lowest[0]:
            self.lowest = (nll, value)
        return nll

    def state(self) -> dict[str, torch.Tensor]:
        return {k: v.clone() for k, v in self.module.state_dict().items()}


def profile_interval(
    module: nn.Module,
    name: str,
    se: float,
    loss: Callable[[], torch.Tensor],
    limit: float = 5.0,
) -> ProfileInterval:
    """The 95 % profile interval of the log-rate parameter ``name`` of ``module`` under ``loss``
    (its NLL), from a Laplace standard error ``se``; the module's state is restored after."""
    prof = _Profile(module, name, loss)
    best = prof.best
    original = prof.state()
    nll0 = prof.refit(best)  # the profile's own minimum, should the fit have stopped short of it
    start = prof.state()

    def root(value: float) -> float:
        rise = 2 * (prof.refit(value) - nll0)
        return math.copysign(math.sqrt(max(rise, 0.0)), value - best)

    def reached(x: float, r: float) -> bool:
        return abs(abs(r) - Z95) < R_TOL and abs(x - best) > MIN_GAP

    def secant(sign: float) -> tuple[float, float]:
        module.load_state_dict(start)
        x0, r0 = best, 0.0
        x1 = best + sign * min(Z95 * max(se, 1e-3), 1.0)
        r1 = root(x1)
        for _ in range(6):
            if reached(x1, r1):
                break
            slope = (r1 - r0) / (x1 - x0)
            step = (sign * Z95 - r1) / slope if slope > 1e-9 else sign * limit
            x2 = best + sign * min(max(sign * (x1 + step - best), MIN_GAP), limit)
            if x2 == x1:
                break
            x0, r0, x1, r1 = x1, r1, x2, root(x2)
        return x1, r1

    def bracket(sign: float) -> tuple[float, float]:
        """Outward by doubling steps from a small one, then bisection inside the bracket."""
        module.load_state_dict(start)
        near, r_near, s_near = best, 0.0, start
        step = min(0.25 * max(se, 1e-3), 0.05)
        while True:
            x = best + sign * min(step, limit)
            r = root(x)
            if sign * r >= Z95 - R_TOL:
                break
            near, r_near, s_near = x, r, prof.state()
            if step >= limit:
                return x, r  # unbounded within e^limit
            step *= 2
        far, r_far = x, r
        for _ in range(12):
            if reached(far, r_far):
                return far, r_far
            # the root is nearly linear in x: regula falsi, kept inside the bracket
            w = (Z95 - abs(r_near)) / max(abs(r_far) - abs(r_near), 1e-12)
            mid = near + min(max(w, 0.1), 0.9) * (far - near)
            module.load_state_dict(s_near)
            r_mid = root(mid)
            if reached(mid, r_mid):
                return mid, r_mid
            if abs(r_mid) >= Z95:
                far, r_far = mid, r_mid
            else:
                near, r_near, s_near = mid, r_mid, prof.state()
        return far, r_far

    ends, why, retried = [], [], False
    for sign, side in ((-1.0, "below"), (1.0, "above")):
        x, r = secant(sign)
        if not reached(x, r):
            retried = True
            x, r = bracket(sign)
        ends.append(x)
        if not reached(x, r):
            rise = r * r / 2
            if abs(x - best) >= limit - 1e-9:
                why.append(
                    f"the NLL rises by only {rise:.2f} nats (1.92 needed) {side} the estimate "
                    f"out to a factor e^{limit:g}"
                )
            else:
                why.append(f"the profile {side} the estimate did not converge (|r| {abs(r):.2f})")
    if prof.lowest[0] < nll0 - LOWER_NATS:
        drop, at = nll0 - prof.lowest[0], math.exp(prof.lowest[1])
        why.insert(
            0,
            f"the fit is not at its optimum: the profile is {drop:.2f} nats lower at {at:.4g}",
        )
    module.load_state_dict(original)
    return ProfileInterval(math.exp(ends[0]), math.exp(ends[1]), "; ".join(why), retried)
