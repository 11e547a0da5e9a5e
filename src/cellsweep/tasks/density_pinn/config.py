"""Config schemas of the Density-PINN task (conf/task/density_pinn.yaml) and its two models
(conf/model/density_pinn/{likelihood,authors}.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from cellsweep.errors import ConfigError
from cellsweep.tasks.base import TaskCfg
from cellsweep.tasks.density_pinn.families import FAMILIES
from cellsweep.tasks.density_pinn.selection import RULES
from cellsweep.tasks.density_pinn.simulate import SimCfg


@dataclass
class DataCfg:
    """Where the traces come from (a simulation or a CSV) and how many cells are held out."""

    source: str = "simulate"  # simulate | csv
    path: Optional[str] = None  # noqa: UP045 (trace CSV; <name>.truth.json beside it is used)
    val_fraction: float = 0.2  # share of cells held out for val/nll_heldout
    export_csv: bool = False  # write the simulated traces and truth into the run's folder

    def __post_init__(self) -> None:
        if self.source not in ("simulate", "csv"):
            raise ConfigError(f"task.data.source must be simulate or csv, got {self.source!r}")
        if self.source == "csv" and not self.path:
            raise ConfigError("task.data.source=csv needs task.data.path=<traces.csv>")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"task.data.val_fraction must be in (0, 1), got {self.val_fraction}")


@dataclass
class DensityPinnCfg(TaskCfg):
    """conf/task/density_pinn.yaml; ``name`` and ``objective`` come from ``TaskCfg``."""

    sim: SimCfg = field(default_factory=SimCfg)
    data: DataCfg = field(default_factory=DataCfg)
    grid_points: int = 201  # grid of f_τ for plots, CSV and val/density_w1


@dataclass
class FamilyCfg:
    """The density family and the kernel grid of ``free`` (shifted Rayleigh kernels)."""

    family: str = "auto"  # auto (likelihood only) | free | gamma | mixture2
    n_kernels: int = 20
    width_min: float = 0.1
    width_max: float = 2.0


@dataclass
class LikelihoodModelCfg(FamilyCfg):
    """The likelihood PINN's knobs: noise model, ODE sub-steps and optimizer."""

    estimator: str = "likelihood"
    likelihood: str = "auto"  # auto (poisson for counts, else gaussian) | poisson | gaussian
    collocation: int = 40  # exact ODE sub-steps per observation interval
    optimizer: str = "lbfgs"  # lbfgs | adam
    lr: float = 1.0
    iters_per_epoch: int = 20
    interval: str = "laplace"  # laplace | profile
    smoothness: float = 0.01  # free: strength of the roughness prior on f_τ
    folds: int = 5  # family=auto: k-fold cross-validation over cells
    selection_rule: str = "1se"  # family=auto: 1se | argmin (selection.py)

    def __post_init__(self) -> None:
        check_family(self, allow_auto=True)
        if self.smoothness < 0:
            raise ConfigError(f"model.smoothness must be >= 0, got {self.smoothness}")
        if self.folds < 2:
            raise ConfigError(f"model.folds must be >= 2, got {self.folds}")
        if self.selection_rule not in RULES:
            raise ConfigError(
                f"model.selection_rule must be one of {', '.join(RULES)}, "
                f"got {self.selection_rule!r}"
            )
        if self.likelihood not in ("auto", "poisson", "gaussian"):
            raise ConfigError(
                f"model.likelihood must be auto, poisson or gaussian, got {self.likelihood!r}"
            )
        if self.optimizer not in ("lbfgs", "adam"):
            raise ConfigError(f"model.optimizer must be lbfgs or adam, got {self.optimizer!r}")
        if self.interval not in ("laplace", "profile"):
            raise ConfigError(f"model.interval must be laplace or profile, got {self.interval!r}")
        if self.collocation < 2 or self.iters_per_epoch < 1 or self.lr <= 0:
            raise ConfigError("model: collocation >= 2, iters_per_epoch >= 1 and lr > 0")


@dataclass
class AuthorsModelCfg(FamilyCfg):
    """Defaults as published (Mathbiomed/Density-PINN: class MDN and utils.train)."""

    estimator: str = "authors"
    family: str = "free"
    n_kernels: int = 80
    width_min: float = 0.5  # s_min: kernel scale bounds, s = 1/σ² in (1/s_max², 1/s_min²)
    width_max: float = 2.0
    depth: int = 2  # hidden layers of the encoder and of the weight/width decoders
    width: int = 16
    latent: int = 4
    collocation: int = 100
    physics_weight: float = 1.0
    data_weight: float = 1.0
    kl_weight: float = 1.0
    width_penalty_weight: float = 1.0
    lr: float = 1.0e-4
    steps_per_epoch: int = 200
    samples: int = 60  # latent draws of the mean trace for estimates and bands

    def __post_init__(self) -> None:
        check_family(self)
        if min(self.depth, self.width, self.latent, self.collocation, self.samples) < 1:
            raise ConfigError("model: depth, width, latent, collocation and samples must be >= 1")
        if self.lr <= 0 or self.steps_per_epoch < 1:
            raise ConfigError("model: lr > 0 and steps_per_epoch >= 1")
        weights = (self.physics_weight, self.data_weight, self.kl_weight, self.width_penalty_weight)
        if min(weights) < 0:
            raise ConfigError("model: loss weights must be >= 0")


def check_family(cfg: FamilyCfg, allow_auto: bool = False) -> None:
    """The family checks both estimators share: a known family, kernels, width bounds."""
    allowed = ("auto", *FAMILIES) if allow_auto else FAMILIES
    if cfg.family not in allowed:
        raise ConfigError(f"model.family must be one of {', '.join(allowed)}, got {cfg.family!r}")
    if cfg.n_kernels < 1:
        raise ConfigError(f"model.n_kernels must be >= 1, got {cfg.n_kernels}")
    if not 0 < cfg.width_min < cfg.width_max:
        raise ConfigError(
            "model.width_min and width_max need 0 < min < max, "
            f"got {cfg.width_min}, {cfg.width_max}"
        )
