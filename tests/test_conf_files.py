"""Every shipped experiment and sweep file composes and passes the workload's checks, as
lightning-hydra-template's ``cfg_train`` fixtures and DeepXDE's examples-as-tests do: a file that
a refactor broke fails here, not in a user's first command."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from cellsweep.errors import ConfigError
from cellsweep.paths import config_dir
from cellsweep.sweep.plugin.run import check_before_writing, flat_params
from cellsweep.sweep.space.grammar import parse_space
from cellsweep.train import check_config

CONF = Path(config_dir())


def _names(group: str) -> list[str]:
    """``chemotaxis/model1`` for conf/<group>/chemotaxis/model1.yaml (adopted files included)."""
    return sorted(
        str(p.relative_to(CONF / group).with_suffix("")) for p in CONF.glob(f"{group}/**/*.yaml")
    )


def test_the_shipped_files_are_found() -> None:
    assert len(_names("experiment")) >= 8 and len(_names("sweep")) >= 4


@pytest.mark.parametrize("name", _names("experiment"))
def test_every_experiment_composes_and_passes_its_checks(name: str) -> None:
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={name}"])
    assert OmegaConf.select(cfg, "task._target_"), name
    if "???" in (CONF / "experiment" / f"{name}.yaml").read_text():
        # the user's own input (a CSV path): refused until given, as the file's header says,
        # with an error the entry point turns into one line (cli_errors.USER_ERRORS)
        with pytest.raises((ConfigError, OmegaConfBaseException)):
            check_config(cfg)
    else:
        check_config(cfg)  # the workload's check(task, model): raises on a bad file


@pytest.mark.parametrize("name", _names("sweep"))
def test_every_sweep_composes_and_its_space_has_a_feasible_point(name: str) -> None:
    """The space parses in the sweeper's grammar, and trial configs composed at its points
    pass the app's checks where the sweeper would check them before writing anything."""
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[f"sweep={name}"], return_hydra_config=True)
        sweeper = cfg.hydra.sweeper
        assert sweeper._target_.endswith("CellsweepSweeper"), name
        params = flat_params(OmegaConf.to_container(sweeper.params, resolve=True) or {})
        space = parse_space(params)
        assert space.distributions, name

        def composed(overrides: list[str]):
            return compose("train", overrides=list(overrides))

        check_before_writing(check_config, space, composed, [f"sweep={name}"])
