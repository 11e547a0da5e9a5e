"""The chemotaxis task's config schema (conf/task/chemotaxis.yaml mirrors it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from cellsweep.errors import ConfigError
from cellsweep.tasks.base import TaskCfg
from cellsweep.tasks.chemotaxis.density import check_bins
from cellsweep.tasks.chemotaxis.losses import resolve_form
from cellsweep.tasks.chemotaxis.simulate import SimConfig


@dataclass
class PairsCfg:
    """Snapshot pairs (t, t + τ) start at start_steps + i·stride_steps, i < count."""

    start_steps: int = 0
    stride_steps: int = 10
    count: int = 300


@dataclass
class ValCfg:
    """Held-out prediction windows [t_a, t_a + horizon] on an independent replicate."""

    start_steps: list[int] = field(default_factory=lambda: [50, 100, 150, 200, 250])
    horizon_steps: int = 200


@dataclass
class DataCfg:
    """Where the snapshots come from: the simulator, or CSV files (snapshots_csv.py format)."""

    source: str = "simulate"  # simulate | csv
    train_csv: Optional[str] = None  # noqa: UP045
    val_csv: Optional[str] = None  # noqa: UP045 (null: validate on the training file)
    export_csv: bool = False  # write the simulated snapshots to the run's output folder


@dataclass
class LossCfg:
    """The PDE-residual loss: finite-difference order and the residual's form."""

    order: int = 2
    form: str = "auto"


@dataclass
class EstimatorCfg:
    """D used in 𝓛_S: null takes the model's (parabolic-limit) D; learn_D fits it too."""

    D: Optional[float] = None  # noqa: UP045 (OmegaConf schemas want Optional)
    learn_D: bool = False


@dataclass
class OptimCfg:
    """The optimizer and learning-rate schedule of the sensitivity network."""

    lr: float = 3.0e-3
    weight_decay: float = 0.0
    scheduler: str = "cosine"
    min_lr_ratio: float = 0.02
    batch_size: int = 0  # 0: all pairs in every step
    steps_per_epoch: int = 10


@dataclass
class ChemotaxisCfg(TaskCfg):
    """conf/task/chemotaxis.yaml; ``name`` and ``objective`` come from ``TaskCfg``."""

    window_steps: int = 100
    bins: int = 50
    sim: SimConfig = field(default_factory=SimConfig)
    data: DataCfg = field(default_factory=DataCfg)
    pairs: PairsCfg = field(default_factory=PairsCfg)
    val: ValCfg = field(default_factory=ValCfg)
    loss: LossCfg = field(default_factory=LossCfg)
    estimator: EstimatorCfg = field(default_factory=EstimatorCfg)
    optim: OptimCfg = field(default_factory=OptimCfg)

    def __post_init__(self) -> None:
        sim = self.sim
        if self.window_steps <= 0:
            raise ConfigError(f"task.window_steps must be positive, got {self.window_steps}")
        if self.window_steps % sim.record_every:
            raise ConfigError(
                f"task.window_steps ({self.window_steps}) must be a multiple of "
                f"task.sim.record_every ({sim.record_every})"
            )
        p = self.pairs
        if p.count <= 0 or p.stride_steps <= 0 or p.start_steps < 0:
            raise ConfigError("task.pairs: count and stride_steps must be positive, start >= 0")
        for key in ("start_steps", "stride_steps"):
            if getattr(p, key) % sim.record_every:
                raise ConfigError(f"task.pairs.{key} must be a multiple of task.sim.record_every")
        self.loss.form = resolve_form(self.loss.order, self.loss.form)
        if self.data.source not in ("simulate", "csv"):
            raise ConfigError(f"task.data.source must be simulate or csv, got {self.data.source!r}")
        if self.data.source == "csv" and not self.data.train_csv:
            raise ConfigError("task.data.source=csv needs task.data.train_csv=<path>")
        if self.data.source == "csv" and self.estimator.D is None and not self.estimator.learn_D:
            raise ConfigError("with task.data.source=csv set task.estimator.D or learn_D=true")
        v = self.val
        if v.horizon_steps <= 0 or not v.start_steps or v.horizon_steps % sim.record_every:
            raise ConfigError(
                "task.val needs start_steps and a positive horizon_steps that is a multiple "
                "of task.sim.record_every"
            )
        if any(s < 0 or s % sim.record_every for s in v.start_steps):
            raise ConfigError("task.val.start_steps must be non-negative multiples of record_every")
        if self.data.source == "simulate":
            self.check_horizon(sim.n_steps, "task.sim.n_steps")
            check_bins(self.bins, sim.record_bins)
        if self.optim.lr <= 0 or self.optim.steps_per_epoch <= 0 or self.optim.batch_size < 0:
            raise ConfigError(
                "task.optim: lr and steps_per_epoch must be positive, batch_size >= 0"
            )
        if self.optim.scheduler not in ("cosine", "none"):
            raise ConfigError(
                f"task.optim.scheduler must be cosine or none, got {self.optim.scheduler!r}"
            )
        if self.estimator.D is not None and self.estimator.D <= 0:
            raise ConfigError(f"task.estimator.D must be positive, got {self.estimator.D}")

    def check_horizon(self, n_steps: int, what: str) -> None:
        """The pairs and validation windows must fit in the recorded time span."""
        p, v = self.pairs, self.val
        back = self.window_steps if self.loss.form == "central" else 0
        last = p.start_steps + back + (p.count - 1) * p.stride_steps + self.window_steps
        if last > n_steps:
            raise ConfigError(
                f"snapshot pairs need {last} steps but {what} is {n_steps}: lower "
                "task.window_steps or task.pairs.count, or record longer"
            )
        last_val = max(v.start_steps) + v.horizon_steps
        if last_val > n_steps:
            raise ConfigError(
                f"validation windows need {last_val} steps but {what} is {n_steps}: "
                "lower task.val.start_steps or task.val.horizon_steps"
            )
