"""Trial configs composed by the shortcut equal Hydra's full composition, key for key."""

from __future__ import annotations

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException
from hydra.types import RunMode

from cellsweep.paths import config_dir
from cellsweep.sweep.plugin.compose import TrialComposer, _plain


@pytest.fixture()
def loader():
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        yield GlobalHydra.instance().config_loader()


def _master(loader, *overrides: str):
    return loader.load_configuration("train", overrides=list(overrides), run_mode=RunMode.MULTIRUN)


CASES = [
    (
        ["sweep=chemotaxis/window", "trainer.max_epochs=3"],
        [
            ["task.window_steps=20", "model.depth=3", "model.activation=tanh"],
            ["task.window_steps=500", "model.width=64", "task.optim.lr=0.0003"],
            ["task.loss.order=1", "model.depth=2"],
        ],
    ),
    (
        ["sweep=density_pinn/free", "experiment=density_pinn/unimodal"],
        [
            ["model.smoothness=0.3", "model.n_kernels=10"],
            ["model.n_kernels=40", "model.width_min=0.25", "model.smoothness=0.002"],
        ],
    ),
]


@pytest.mark.parametrize("fixed, trials", CASES)
def test_shortcut_equals_hydra_composition(loader, fixed, trials) -> None:
    master = _master(loader, *fixed)
    composer = TrialComposer(loader, master, fixed)
    for sampled in trials:
        fast = composer.compose([*fixed, *sampled])
        full = loader.load_sweep_config(master, [*fixed, *sampled])
        assert _plain(fast) == _plain(full)
        assert list(fast.hydra.overrides.task) == [*fixed, *sampled]
    assert composer.enabled and composer.fast == len(trials)


def test_group_choices_and_bad_values_take_hydras_path(loader) -> None:
    fixed = ["sweep=chemotaxis/window"]
    composer = TrialComposer(loader, _master(loader, *fixed), fixed)
    cfg = composer.compose([*fixed, "trainer=debug", "model.depth=2"])  # a group: full path
    assert composer.fast == 0 and cfg.hydra.runtime.choices.trainer == "debug"
    for bad in ("model.nosuchkey=1", "task.sim.nosuchkey=0.5"):  # the same error as Hydra's
        with pytest.raises(ConfigCompositionException, match="nosuchkey"):
            composer.compose([*fixed, bad])
        with pytest.raises(ConfigCompositionException, match="nosuchkey"):
            loader.load_sweep_config(composer.master, [*fixed, bad])


def test_the_window_study_ships_the_pruner_its_benchmarks_chose(loader) -> None:
    """benchmarks/pruning_savings.py and window_selection.py measure whatever window.yaml says;
    this pins what the README and the benchmark prose describe: the median pruner (5 startup
    trials, 5 warm-up epochs), kept over successive halving for the S it leads to."""
    import optuna

    from cellsweep.sweep.study.storage import make_pruner

    pruner = make_pruner(_master(loader, "sweep=chemotaxis/window").hydra.sweeper.pruner)
    assert isinstance(pruner, optuna.pruners.MedianPruner)
    assert (pruner._n_startup_trials, pruner._n_warmup_steps) == (5, 5)
