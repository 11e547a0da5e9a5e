"""A Hydra app shaped like lightning-hydra-template's, written for the stock Optuna sweeper.

It knows nothing of cellsweep: its own config tree, a task function that returns a float (or a
list, for several directions), and `hparams_search` files as the stock plugin documents them,
with only the sweeper selection changed. Tests run it under cellsweep's sweeper.
"""

from __future__ import annotations

import time

import hydra
from omegaconf import DictConfig


def objective(cfg: DictConfig) -> float:
    """A smooth bowl in the model's knobs; ``penalty`` (which the sweep deletes) adds to it."""
    value = (cfg.model.lr - 0.03) ** 2 * 1e3 + abs(cfg.model.width - 32) / 32
    return value + cfg.model.get("dropout", 0.0) + cfg.get("penalty", 0.0)


def configure(cfg: DictConfig, trial) -> None:
    """custom_search_space: dropout's upper bound follows the config (the stock example's use)."""
    trial.suggest_float("+model.dropout", 0.0, cfg.max_dropout)


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | list[float]:
    if cfg.get("fail_on_width") is not None and cfg.model.width == cfg.fail_on_width:
        raise RuntimeError(f"width {cfg.model.width} diverged")
    time.sleep(cfg.sleep_s)  # a trial that takes a while, so that two workers share the study
    value = objective(cfg)
    if cfg.get("two_objectives"):
        return [value, float(cfg.model.width)]
    return value


if __name__ == "__main__":
    main()
