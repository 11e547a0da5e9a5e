"""A trivial Hydra objective, to measure what a sweeper costs per trial.

A plain Hydra app that imports nothing of cellsweep: it returns a float. Run by
benchmarks/sweep_overhead.py under two sweepers with the same file apart from the sweeper
selection: cellsweep's (a journal file, an MLflow parent run and a child run per trial, which
the sweeper opens itself) and the stock hydra-optuna-sweeper (in memory, nothing logged). The
objective itself costs microseconds, or ``cost_s`` seconds (worker_scaling.py --plain).
"""

from __future__ import annotations

import time

import hydra
from omegaconf import DictConfig


def objective(cfg: DictConfig) -> float:
    time.sleep(float(cfg.get("cost_s", 0.0)))  # a trial's own cost (worker_scaling --plain)
    return (cfg.x - 2.0) ** 2 + (cfg.y + 1.0) ** 2


@hydra.main(version_base="1.3", config_path="conf", config_name="stock")
def main(cfg: DictConfig) -> float:
    return objective(cfg)


if __name__ == "__main__":
    main()
