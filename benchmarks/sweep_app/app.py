"""A trivial Hydra objective, to measure what a sweeper costs per trial.

Run by benchmarks/sweep_overhead.py under two sweepers: cellsweep's (journal storage, an MLflow
child run per trial, as cellsweep-train logs one) and the stock hydra-optuna-sweeper (in memory,
nothing logged). The objective itself costs microseconds.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf


def objective(cfg: DictConfig) -> float:
    return (cfg.x - 2.0) ** 2 + (cfg.y + 1.0) ** 2


@hydra.main(version_base="1.3", config_path="conf", config_name="stock")
def main(cfg: DictConfig):
    value = objective(cfg)
    try:
        from cellsweep.sweep.context import current_trial
    except ImportError:  # the stock plugin's venv has no cellsweep
        return value
    ctx = current_trial()
    if ctx is None:
        return value
    from cellsweep.tracking import TrackingSettings, flatten, start_run

    settings = TrackingSettings.from_config(OmegaConf.to_container(cfg.tracking, resolve=True))
    tags = {"mlflow.parentRunId": ctx.parent_run_id, "cellsweep.trial": ctx.trial.number}
    with start_run(settings, f"overhead#{ctx.trial.number}", tags) as run:
        run.log_params(flatten(OmegaConf.to_container(cfg, resolve=True)))
        run.log_metrics({"obj": value}, step=0)
        ctx.trial.set_user_attr("mlflow_run_id", run.run_id)
        run.set_tags({"cellsweep.trial_state": "COMPLETE"})
    return {"obj": value}


if __name__ == "__main__":
    main()
