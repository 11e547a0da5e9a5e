"""Individual-based chemotaxis models I, II and III on [0, L] with reflecting walls.

All three are vectorized over particles in torch, run on CPU or GPU, and are seeded through one
``torch.Generator``. Particles are processed in cache-sized chunks with preallocated buffers: a
step is a dozen elementwise passes, and keeping a chunk in L2 makes them cheap next to drawing
the random numbers (see benchmarks/sim_throughput.py).

Model I (parabolic): Euler–Maruyama for dX = S(c) c'(X) dt + sqrt(2D) dW.

Model II (run and tumble): speed s, direction σ = ±1, turning rate λ_σ = λ0 (1 − σ β(c) c'(x)).
We parametrize it by the target parabolic-limit sensitivity, β(c) = S(c)/s, since then
D = s²/(2λ0) and S = s·β (Othmer & Hillen 2000; Erban & Othmer 2004).

Model III (excitation–adaptation): internal y with dy/dt = (c(X) − y)/t_a, rate
λ = max(λ0 − b (c(X) − y), 0). Parabolic limit: D = s²/(2λ0), S = b s² t_a / (λ0 (1 + 2 λ0 t_a))
(see ``limits.py`` for the derivation).

Turning inside a step. Rates are frozen over a step of length Δt, and each particle draws one
uniform number u per step, like the Euler scheme. The direction reverses iff u < q, with q the
exact probability of an odd number of turns in the two-state chain: q = λ_σ (1 −
e^{−2λ̄Δt})/(2λ̄), λ̄ the mean of the rates in the two directions (λ0 for Model II; λ itself for
Model III, whose rate does not depend on σ). The turn is placed inside the step, at Δt·u/q, so
the velocity chain on the time grid is exact and the position error is of second order.
Turning at step ends with probability 1 − e^{−λΔt} instead biases D and S by about −5 % at the
paper's λ0Δt = 0.1
(measured; their ratio, and so the stationary density, is nearly unaffected). This is a documented
choice: the paper's own discretization is not known here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from cellsweep.errors import ConfigError
from cellsweep.tasks.chemotaxis.fields import Sensitivity, Signal

CHUNK = 1 << 18  # particles per chunk: fewer Python dispatches; measured fastest on 2 cores


@dataclass
class SimConfig:
    """Everything that determines a simulated data set (and so its cache key)."""

    model: int = 1
    n_particles: int = 100_000
    dt: float = 1.0e-4
    n_steps: int = 4000
    record_every: int = 10
    record_bins: int = 600
    length: float = 1.0
    init: str = "uniform"
    diffusion: float = 1.0  # Model I
    speed: float = math.sqrt(2000.0)  # Models II, III
    turn_rate: float = 1000.0  # Models II, III (λ0)
    adapt_time: float = 1.0e-2  # Model III (t_a)
    adapt_gain: float = 1050.0  # Model III (b)
    device: str = "cpu"  # cpu, cuda or auto (results differ between devices, not between runs)
    signal: Signal = field(default_factory=Signal)
    sensitivity: Sensitivity = field(default_factory=Sensitivity)

    def __post_init__(self) -> None:
        if self.model not in (1, 2, 3):
            raise ConfigError(f"task.sim.model must be 1, 2 or 3, got {self.model}")
        for key in ("n_particles", "n_steps", "record_every", "record_bins"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"task.sim.{key} must be positive, got {getattr(self, key)}")
        for key in ("dt", "length", "diffusion", "speed", "turn_rate", "adapt_time"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"task.sim.{key} must be positive, got {getattr(self, key)}")
        if self.init not in ("uniform", "center"):
            raise ConfigError(f"task.sim.init must be uniform or center, got {self.init!r}")
        if self.n_steps % self.record_every:
            raise ConfigError(
                f"task.sim.n_steps ({self.n_steps}) must be a multiple of "
                f"task.sim.record_every ({self.record_every})"
            )

    def key_fields(self) -> dict:
        """The fields that matter for this model (unused parameters don't split the cache)."""
        unused = {
            1: {"speed", "turn_rate", "adapt_time", "adapt_gain"},
            2: {"diffusion", "adapt_time", "adapt_gain"},
            3: {"diffusion"},
        }[self.model]
        out: dict = {"device": resolve_device(self.device).type}
        for name in self.__dataclass_fields__:
            if name == "device":
                continue
            if name in unused or (self.model == 3 and name == "sensitivity"):
                continue
            value = getattr(self, name)
            out[name] = value.__dict__ if hasattr(value, "__dict__") else value
        return out


@dataclass
class SimResult:
    """Histogram counts on ``record_bins`` equal bins, every ``record_every`` steps from t = 0."""

    counts: np.ndarray  # int64 [n_records, record_bins]
    dt: float
    record_every: int
    length: float
    n_particles: int

    @property
    def times(self) -> np.ndarray:
        """The time of each recorded histogram, for CSV export and plots."""
        return np.arange(self.counts.shape[0]) * self.record_every * self.dt


def _reflect_(x: torch.Tensor, length: float) -> None:
    """x ← reflection of x into [0, L] (valid for excursions shorter than L)."""
    x.abs_().sub_(length).abs_().sub_(length).neg_()


class _Particles:
    """One chunk of particles with its preallocated scratch buffers."""

    def __init__(self, cfg: SimConfig, n: int, gen: torch.Generator, device, dtype) -> None:
        self.cfg = cfg
        kw = {"device": device, "dtype": dtype}
        self.x = torch.empty(n, **kw)
        if cfg.init == "uniform":
            self.x.uniform_(0.0, cfg.length, generator=gen)
        else:
            self.x.fill_(0.5 * cfg.length)
        self.rand = torch.empty(n, **kw)
        self.a = torch.empty(n, **kw)
        self.b = torch.empty(n, **kw)
        self.mask = torch.empty(n, device=device, dtype=torch.bool)
        if cfg.model in (2, 3):
            self.sgn = torch.empty(n, **kw).bernoulli_(0.5, generator=gen).mul_(2).sub_(1)
        if cfg.model == 3:
            self.y = cfg.signal.c(self.x)  # start adapted to the local signal
        self.k = _scalars(cfg, device, dtype)
        self.clamp_q = cfg.model == 3 or not _model2_rates_positive(cfg)


def _scalars(cfg: SimConfig, device, dtype) -> dict[str, torch.Tensor]:
    """The steps' constants as 0-dim tensors. A Python float operand costs torch a
    wrapped-scalar conversion on every op (~1.2 µs, a fifth of a pass at N = 10^5); the values
    are rounded to ``dtype`` exactly as that conversion rounds them, so results are unchanged."""
    names = {
        "zero": 0.0,
        "one": 1.0,
        "minus_one": -1.0,
        "half": 0.5 * cfg.length,
        "length": cfg.length,
        "tiny": 1e-30,
        "minus_2tiny": -2e-30,
        "pi": math.pi,
        "sens_a": cfg.sensitivity.a,
        "sens_b": cfg.sensitivity.b,
        "slope": cfg.signal.slope,
        "offset": cfg.signal.offset,
        "turn_rate": cfg.turn_rate,
        "k2": -math.expm1(-2.0 * cfg.turn_rate * cfg.dt) / (2.0 * cfg.turn_rate),
        "gain": cfg.adapt_gain,
        "minus_2dt": -2.0 * cfg.dt,
    }
    return {k: torch.tensor(v, device=device, dtype=dtype) for k, v in names.items()}


def _model2_rates_positive(cfg: SimConfig) -> bool:
    """Whether λ_σ = λ0 (1 − σ β c') ≥ λ0 − |c'| λ0 max|S| / s stays well above 0 (linear signal):
    then Model II's clamps of λ_σ and q are no-ops and are skipped."""
    if not cfg.signal.is_linear:
        return False
    sens = cfg.sensitivity
    if sens.kind == "sine":
        s_max = abs(sens.a) + abs(sens.b)
    elif sens.kind == "linear":
        lo, hi = cfg.signal.c_range(cfg.length)
        s_max = max(abs(sens.a + sens.b * lo), abs(sens.a + sens.b * hi))
    else:
        s_max = abs(sens.a)
    lam_min = cfg.turn_rate - abs(cfg.signal.slope) * cfg.turn_rate / cfg.speed * s_max
    return lam_min > 1e-3 * cfg.turn_rate


def _signal_fast(p: _Particles) -> torch.Tensor:
    """c(X): X itself when c(x) = x (no copy), else written into ``p.a``."""
    sig = p.cfg.signal
    if not sig.is_linear:
        return p.a.copy_(sig.c(p.x))
    if sig.slope == 1.0 and sig.offset == 0.0:
        return p.x
    out = torch.mul(p.x, p.k["slope"], out=p.a)
    return out.add_(p.k["offset"]) if sig.offset != 0.0 else out


def _sensitivity_into(p: _Particles, c: torch.Tensor) -> torch.Tensor:
    """``p.a`` ← S(c), skipping a multiplication by b = 1 (x·1 = x: the same bits)."""
    sens, k, out = p.cfg.sensitivity, p.k, p.a
    if sens.kind == "constant":
        return out.fill_(sens.a)
    if sens.kind == "linear":
        torch.mul(c, k["sens_b"], out=out)
    else:
        torch.mul(c, k["pi"], out=out).sin_()
        if sens.b != 1.0:
            out.mul_(k["sens_b"])
    return out.add_(k["sens_a"])


def _times_dc_(sig: Signal, x: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
    """v ← v · c'(x) · scale, in place."""
    if sig.is_linear:
        return v.mul_(sig.slope * scale)
    return v.mul_(sig.dc(x)).mul_(scale)


def _step_model1(p: _Particles, gen: torch.Generator) -> None:
    cfg = p.cfg
    torch.randn(p.x.shape, generator=gen, out=p.rand, dtype=p.x.dtype, device=p.x.device)
    drift = _sensitivity_into(p, _signal_fast(p))
    _times_dc_(cfg.signal, p.x, drift, cfg.dt)
    p.x.add_(drift).add_(p.rand, alpha=math.sqrt(2.0 * cfg.diffusion * cfg.dt))
    _reflect_(p.x, cfg.length)


def _turn_and_move(p: _Particles, den: torch.Tensor, value: float) -> None:
    """Turn and move, given u ~ U[0, 1) (``p.rand``) and the reversal probability q = den/value of
    this step (den already clamped so that q ≥ 1e-30; value·u/den is exactly u/q).

    The direction reverses iff u < q, at t1 = Δt·u/q into the step (given a turn, u/q is uniform:
    placing the turn uniformly instead of by the truncated exponential is a second-order
    difference). With v = min(u/q − 1, 0) = −(fraction of the step after the turn), the
    displacement is σ s Δt (1 + 2v) and σ flips where v < 0, or where x left [0, L] (both:
    no flip). Written without bool masks, which cost 5-30 float passes on CPU: comparisons write
    0/1 floats, and the flip is σ ← σ − 2σ·[turned ≠ outside]. Every op rounds as the
    sign_-based version did, so trajectories are bitwise the same.
    """
    cfg, k = p.cfg, p.k
    v = torch.addcdiv(k["minus_one"], p.rand, den, value=value, out=p.rand).clamp_max_(k["zero"])
    turned = torch.lt(v, k["zero"], out=p.a)
    w = torch.add(k["one"], v, alpha=2.0, out=p.b)  # 1 + 2v: 2v is exact, so no fused rounding
    p.x.addcmul_(p.sgn, w, value=cfg.speed * cfg.dt)
    # reflecting walls: outside iff |x − L/2| > L/2 (the test the sign_ version made)
    outside = torch.sub(p.x, k["half"], out=p.b).abs_().gt_(k["half"])
    p.sgn.addcmul_(p.sgn, torch.ne(turned, outside, out=turned), value=-2.0)
    p.x.abs_().sub_(k["length"]).abs_().sub_(k["length"]).neg_()  # _reflect_


def _step_model2(p: _Particles, gen: torch.Generator) -> None:
    cfg, k = p.cfg, p.k
    p.rand.uniform_(generator=gen)
    lam = _sensitivity_into(p, _signal_fast(p))  # S(c)
    scale = -cfg.turn_rate / cfg.speed
    if cfg.signal.is_linear:
        scale *= cfg.signal.slope
    else:
        lam.mul_(cfg.signal.dc(p.x))
    # λ_σ = λ0 + (−λ0 β c')·σ = λ0 (1 − σ β c'); σ = ±1 makes the product exact, so = mul, mul, add
    torch.addcmul(k["turn_rate"], lam, p.sgn, value=scale, out=lam)
    # two-state chain with rates λ_σ, λ_−σ (mean λ0): q = λ_σ (1 − e^{−2λ0Δt}) / (2λ0);
    # max(max(λ, 0)·k, 1e-30) = max(λ·k, 1e-30), and both are no-ops when λ_σ > 0 is guaranteed
    q = lam.mul_(k["k2"])
    if p.clamp_q:
        q.clamp_min_(k["tiny"])
    _turn_and_move(p, q, 1.0)


def _step_model3(p: _Particles, gen: torch.Generator) -> None:
    cfg, k = p.cfg, p.k
    p.rand.uniform_(generator=gen)
    c = _signal_fast(p)
    d = torch.sub(p.y, c, out=p.b)  # y − c
    # y relaxes exactly over the step towards c frozen at the step start: y ← c + e·(y − c)
    torch.addcmul(c, d, k["one"], value=math.exp(-cfg.dt / cfg.adapt_time), out=p.y)
    lam = d.mul_(k["gain"]).add_(k["turn_rate"])  # λ0 − b (c − y), not yet clamped at 0
    # equal rates both ways: q = (1 − e^{−2λΔt})/2 = −E/2 with E = expm1(−2λΔt). E ≤ −2e-30 is
    # q ≥ 1e-30, and it also covers λ < 0 (E > 0), so λ needs no clamp of its own.
    e = torch.mul(lam, k["minus_2dt"], out=p.a).expm1_().clamp_max_(k["minus_2tiny"])
    _turn_and_move(p, e, -2.0)  # u/q = (−2u)/E exactly


_STEPPERS: dict[int, Callable[[_Particles, torch.Generator], None]] = {
    1: _step_model1,
    2: _step_model2,
    3: _step_model3,
}


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when present; an explicit ``cuda`` without a GPU is a config error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"task.sim.device={device} but no CUDA device is available")
    return torch.device(device)


def simulate(
    cfg: SimConfig,
    seed: int,
    dtype: torch.dtype = torch.float32,
    progress: Callable[[int, int], None] | None = None,
) -> SimResult:
    """Run one replicate and return its histogram counts; deterministic for a seed and device."""
    dev = resolve_device(cfg.device)
    gen = torch.Generator(device=dev)
    gen.manual_seed(int(seed))
    chunk = cfg.n_particles if dev.type == "cuda" else CHUNK
    sizes = [min(chunk, cfg.n_particles - i) for i in range(0, cfg.n_particles, chunk)]
    parts = [_Particles(cfg, n, gen, dev, dtype) for n in sizes]
    step = _STEPPERS[cfg.model]
    n_records = cfg.n_steps // cfg.record_every + 1
    counts = torch.zeros(n_records, cfg.record_bins, dtype=torch.int64, device=dev)
    scale = cfg.record_bins / cfg.length
    for k in range(cfg.n_steps + 1):
        if k % cfg.record_every == 0:
            row = counts[k // cfg.record_every]
            for p in parts:
                idx = torch.mul(p.x, scale).to(torch.int32).clamp_(0, cfg.record_bins - 1)
                row += torch.bincount(idx, minlength=cfg.record_bins)
            if progress is not None:
                progress(k, cfg.n_steps)
        if k == cfg.n_steps:
            break
        for p in parts:
            step(p, gen)
    return SimResult(
        counts=counts.cpu().numpy(),
        dt=cfg.dt,
        record_every=cfg.record_every,
        length=cfg.length,
        n_particles=cfg.n_particles,
    )


def positions_at(cfg: SimConfig, seed: int, at_steps: list[int]) -> list[torch.Tensor]:
    """Particle positions after each step count in ``at_steps`` (for moment checks in tests)."""
    dev = resolve_device(cfg.device)
    gen = torch.Generator(device=dev)
    gen.manual_seed(int(seed))
    chunk = cfg.n_particles if dev.type == "cuda" else CHUNK
    sizes = [min(chunk, cfg.n_particles - i) for i in range(0, cfg.n_particles, chunk)]
    parts = [_Particles(cfg, n, gen, dev, torch.float32) for n in sizes]
    step = _STEPPERS[cfg.model]
    out = []
    for k in range(max(at_steps) + 1):
        if k in at_steps:
            out.append(torch.cat([p.x.double() for p in parts]))
        if k < max(at_steps):
            for p in parts:
                step(p, gen)
    return out


def final_positions(cfg: SimConfig, seed: int) -> torch.Tensor:
    """Positions after ``cfg.n_steps`` steps."""
    return positions_at(cfg, seed, [cfg.n_steps])[0]
