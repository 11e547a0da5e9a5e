"""The shapes of the stock hydra-optuna-sweeper's example apps, written afresh for our tests.

One plain Hydra app that knows nothing of cellsweep: the sphere (one objective), Binh and Korn
(two objectives), a custom search space that adds a ``+w`` key, and trials that raise. The
search files under ``conf/search`` select cellsweep's sweeper and leave tracking at its default
(on: ./mlruns and ./sweeps in the folder the app is started from).
"""

from __future__ import annotations

import time

import hydra
from omegaconf import DictConfig


def add_w_and_z(cfg: DictConfig, trial) -> None:
    """custom_search_space: ``z`` close to the drawn ``x``, and ``+w``, a key the config lacks."""
    x = trial.params["x"]
    gap = cfg.max_z_difference_from_x
    trial.suggest_float("z", x - gap, x + gap)
    trial.suggest_float("+w", 0.0, 1.0)


@hydra.main(version_base="1.3", config_path="conf", config_name="examples")
def main(cfg: DictConfig) -> float | list[float]:
    x, y = float(cfg.x), float(cfg.y)
    time.sleep(cfg.sleep_s)  # trials that take a while, so that two workers share the study
    if cfg.fail_above is not None and x > cfg.fail_above:
        raise RuntimeError(f"x={x} is above {cfg.fail_above}")
    if cfg.function == "binh_and_korn":
        return [4 * x**2 + 4 * y**2, (x - 5) ** 2 + (y - 5) ** 2]
    near = 0.0 if cfg.z is None else (float(cfg.z) - x) ** 2  # z and w: the custom space's
    return x**2 + y**2 + near + float(cfg.get("w", 0.0))


if __name__ == "__main__":
    main()
