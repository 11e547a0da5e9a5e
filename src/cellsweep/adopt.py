"""`cellsweep best` and `cellsweep adopt`: a study's best trial, and an experiment made of it.

The adopted experiment is the best trial's config recomposed from its overrides (recorded on the
trial) by Hydra: a ``_global_`` package with the task, model and trainer sections in full, so it
reproduces the trial whatever the defaults become later.
"""

from __future__ import annotations

import re
from pathlib import Path

import optuna
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf
from optuna.trial import TrialState

from cellsweep.errors import ConfigError
from cellsweep.sweep.study import attrs
from cellsweep.sweep.study.identity import FINGERPRINT_CHARS
from cellsweep.sweep.study.record import state_counts

UNSAFE = re.compile(r"\$\{|_target_")


def load_study(storage: optuna.storages.BaseStorage, name: str) -> optuna.Study:
    """The study ``name``, or the one study ``name-<fingerprint>`` (the default names carry
    their fingerprint: ``cellsweep best chemotaxis-window`` finds ``chemotaxis-window-1a2b3c4d``
    while there is one; with several, each must be named in full)."""
    names = [
        s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)
    ]
    if name not in names:
        tagged = re.compile(rf"{re.escape(name)}-[0-9a-f]{{{FINGERPRINT_CHARS}}}")
        matches = sorted(n for n in names if tagged.fullmatch(n))
        if len(matches) > 1:
            raise ConfigError(
                f"{len(matches)} studies of {name!r} (one per data, task, fixed config or "
                f"space): name one of {', '.join(matches)} (`cellsweep studies` shows them)"
            )
        if not matches:
            known = ", ".join(sorted(names)) or "none"
            raise ConfigError(f"no study named {name!r} in the storage (studies: {known})")
        name = matches[0]
    return optuna.load_study(study_name=name, storage=storage)


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial:
    """The trial to adopt; a study with none complete, or several objectives, has no single best."""
    if not any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        raise ConfigError(f"study {study.study_name!r} has no complete trial yet")
    if len(study.directions) > 1:
        raise ConfigError(
            f"study {study.study_name!r} is multi-objective: pick a trial from "
            "its Pareto front (`cellsweep best` lists them)"
        )
    return study.best_trial


def adopted_yaml(study: optuna.Study, trial: optuna.trial.FrozenTrial, conf_dir: Path) -> str:
    """The experiment file text for ``trial`` (refusing values that could run code)."""
    for key, value in trial.params.items():
        if isinstance(value, str) and UNSAFE.search(value):
            raise ConfigError(
                f"refusing to adopt: param {key}={value!r} carries an interpolation or _target_"
            )
    overrides = [
        o
        for o in trial.user_attrs.get(attrs.OVERRIDES, [])
        if not o.startswith(("hydra.", "sweep=", "paths.", "tracking", "hydra/"))
    ]
    for o in overrides:
        if UNSAFE.search(o.split("=", 1)[-1]):
            raise ConfigError(
                f"refusing to adopt: override {o!r} carries an interpolation or _target_"
            )
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(conf_dir), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    choices = cfg.hydra.runtime.choices
    body = {k: OmegaConf.to_container(cfg[k], resolve=False) for k in ("task", "model", "trainer")}
    head = [
        "# @package _global_",
        f"# Adopted from study {study.study_name!r}, trial {trial.number}: "
        f"value {trial.value:.8g}, MLflow run {trial.user_attrs.get(attrs.RUN_ID, '-')}.",
        f"# Overrides of the trial: {' '.join(overrides)}",
        "# Rerun: cellsweep-train experiment=adopted/" + study.study_name,
        "defaults:",
        *(f"  - override /{g}: {choices[g]}" for g in ("task", "model", "trainer")),
        "",
    ]
    rest = OmegaConf.to_yaml(
        OmegaConf.create(
            {
                "seed": int(cfg.seed),
                "objective": cfg.objective,
                "run_name": f"adopted-{study.study_name}",
                **body,
            }
        )
    )
    return "\n".join(head) + rest


def summary_lines(study: optuna.Study) -> list[str]:
    """What `cellsweep best` prints: enough to find the trial's run and rerun it."""
    trials = study.get_trials(deepcopy=False)
    states = state_counts(trials)
    lines = [
        f"study {study.study_name}: {len(trials)} trials "
        + ", ".join(f"{n} {k.lower()}" for k, n in states.items() if n)
    ]
    if len(study.directions) > 1:
        for t in study.best_trials:
            lines.append(
                f"pareto trial {t.number}: values {t.values} params {t.params} "
                f"run {t.user_attrs.get(attrs.RUN_ID, '-')}"
            )
        return lines
    t = best_trial(study)
    objective = (study.user_attrs.get(attrs.OBJECTIVES) or ["value"])[0]
    lines += [
        f"best value ({objective}): {t.value:.8g}",
        f"best trial: {t.number}",
        f"params: {t.params}",
        f"MLflow run: {t.user_attrs.get(attrs.RUN_ID, '-')}",
    ]
    return lines
