"""`cellsweep best` and `cellsweep adopt`: a study's best trial (or any complete one), and a
config made of it that reruns it.

For cellsweep-train, the adopted experiment is the trial's config recomposed from its overrides
(recorded on the trial) by Hydra: a ``_global_`` package with the task, model and trainer
sections in full, so it reproduces the trial whatever the defaults become later, and an
``adopted`` section naming the study, trial and MLflow run it came from (the rerun's run carries
them as tags). Any other Hydra app has no experiment tree to write into (no
``conf/experiment/adopted/`` beside its config): adopt writes the trial's overrides to a file
and prints the app's command with them.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import optuna
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf
from optuna.trial import TrialState

from cellsweep.errors import ConfigError
from cellsweep.sweep.api import SWEEP_ONLY
from cellsweep.sweep.study import attrs
from cellsweep.sweep.study.identity import FINGERPRINT_ATTR, FINGERPRINT_CHARS
from cellsweep.sweep.study.record import state_counts

UNSAFE = re.compile(r"\$\{|_target_")
ADOPTED = Path("experiment") / "adopted"  # under the config folder: cellsweep-train's experiments
# overrides that say where a run goes, or how a sweep runs: not part of what a trial is
NOT_CONFIG = ("hydra.", "hydra/", "sweep=", "paths.", "tracking")


def load_study(storage: optuna.storages.BaseStorage, name: str | None) -> optuna.Study:
    """The study ``name``, or the one study ``name-<fingerprint>`` (the default names carry
    their fingerprint: ``cellsweep best chemotaxis-window`` finds ``chemotaxis-window-1a2b3c4d``
    while there is one; with several, each must be named in full). No name: the storage's one
    study, or a line that lists them."""
    names = sorted(
        s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)
    )
    if name is None:
        if len(names) != 1:
            listed = f": name one of {', '.join(names)}" if names else " yet"
            raise ConfigError(f"{len(names)} studies in the storage{listed}")
        name = names[0]
    if name not in names:
        tagged = re.compile(rf"{re.escape(name)}-[0-9a-f]{{{FINGERPRINT_CHARS}}}")
        matches = sorted(n for n in names if tagged.fullmatch(n))
        if len(matches) > 1:
            raise ConfigError(
                f"{len(matches)} studies of {name!r} (one per data, task, fixed config or "
                f"space): name one of {', '.join(matches)} (`cellsweep studies` shows them)"
            )
        if not matches:
            known = ", ".join(names) or "none"
            raise ConfigError(f"no study named {name!r} in the storage (studies: {known})")
        name = matches[0]
    return optuna.load_study(study_name=name, storage=storage)


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial:
    """The trial to adopt; a study with none complete, or several objectives, has no single best."""
    if not any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        raise ConfigError(f"study {study.study_name!r} has no complete trial yet")
    if len(study.directions) > 1:
        raise ConfigError(
            f"study {study.study_name!r} is multi-objective: pick a trial of its Pareto front "
            "(`cellsweep best` lists them) with --trial N"
        )
    return study.best_trial


def pick_trial(study: optuna.Study, number: int | None) -> optuna.trial.FrozenTrial:
    """Trial ``number`` (it must be complete: a pruned or failed trial's config is not a
    result), or the best one."""
    if number is None:
        return best_trial(study)
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    if number not in trials:
        raise ConfigError(
            f"study {study.study_name!r} has no trial {number} (trials 0-{len(trials) - 1})"
        )
    trial = trials[number]
    if trial.state != TrialState.COMPLETE:
        raise ConfigError(
            f"trial {number} of {study.study_name!r} is {trial.state.name}: only a complete "
            "trial can be adopted"
        )
    return trial


def adopted_name(study: optuna.Study, trial: optuna.trial.FrozenTrial, chosen: bool) -> str:
    """The adopted file's name (no suffix): the study's full name, which is unique, and the
    trial's number when it was chosen by hand rather than as the best."""
    return f"{study.study_name}-trial{trial.number}" if chosen else str(study.study_name)


def trial_overrides(trial: optuna.trial.FrozenTrial, drop: tuple[str, ...]) -> list[str]:
    """The trial's recorded overrides less those starting with ``drop``, refusing any value
    that could run code or read the environment when composed."""
    for key, value in trial.params.items():
        if isinstance(value, str) and UNSAFE.search(value):
            raise ConfigError(
                f"refusing to adopt: param {key}={value!r} carries an interpolation or _target_"
            )
    kept = [
        o for o in trial.user_attrs.get(attrs.OVERRIDES, []) if not o.lstrip("+~").startswith(drop)
    ]
    for o in kept:
        if UNSAFE.search(o.split("=", 1)[-1]):
            raise ConfigError(
                f"refusing to adopt: override {o!r} carries an interpolation or _target_"
            )
    return kept


def _value_of(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> tuple[str, Any]:
    objectives = study.user_attrs.get(attrs.OBJECTIVES) or ["value"]
    if len(trial.values or []) == 1:
        return objectives[0], float(trial.values[0])
    return ",".join(objectives), [float(v) for v in trial.values or []]


def provenance(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """Where an adopted config came from, as its ``adopted`` section holds it."""
    objective, value = _value_of(study, trial)
    return {
        "study": str(study.study_name),
        "trial": trial.number,
        "run_id": trial.user_attrs.get(attrs.RUN_ID),
        "fingerprint": study.user_attrs.get(FINGERPRINT_ATTR),
        "objective": objective,
        "value": value,
    }


def adopted_yaml(
    study: optuna.Study, trial: optuna.trial.FrozenTrial, conf_dir: Path, name: str
) -> str:
    """The experiment file ``<conf_dir>/experiment/adopted/<name>.yaml`` for ``trial``."""
    overrides = trial_overrides(trial, NOT_CONFIG)
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(conf_dir), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    choices = cfg.hydra.runtime.choices
    body = {k: OmegaConf.to_container(cfg[k], resolve=False) for k in ("task", "model", "trainer")}
    source = provenance(study, trial)
    head = [
        "# @package _global_",
        f"# Adopted from study {study.study_name!r}, trial {trial.number}: "
        f"{source['objective']} {source['value']}, MLflow run {source['run_id'] or '-'}.",
        f"# Overrides of the trial: {' '.join(overrides)}",
        f"# Rerun: cellsweep-train experiment=adopted/{name}",
        "defaults:",
        *(f"  - override /{g}: {choices[g]}" for g in ("task", "model", "trainer")),
        "",
    ]
    rest = OmegaConf.to_yaml(
        OmegaConf.create(
            {
                "seed": int(cfg.seed),
                "objective": cfg.objective,
                "run_name": f"adopted-{name}",
                "adopted": source,
                **body,
            }
        )
    )
    return "\n".join(head) + rest


def plain_app(trial: optuna.trial.FrozenTrial) -> dict[str, Any] | None:
    """The app that ran ``trial`` when it is not one with an experiment tree (its config folder
    has no ``experiment/adopted/``); None for cellsweep-train, and for trials that predate the
    record (they were all cellsweep-train's)."""
    app = trial.user_attrs.get(attrs.APP)
    if not isinstance(app, dict) or not app.get("command") or not app.get("config_dir"):
        return None
    return None if (Path(app["config_dir"]) / ADOPTED).is_dir() else app


def rerun_command(app: dict[str, Any], trial: optuna.trial.FrozenTrial) -> list[str]:
    """The app's command with the trial's overrides, less the sweep's own: one run (a sweep
    file of the app may set ``hydra.mode: MULTIRUN``; the last override says RUN)."""
    return [*app["command"], *trial_overrides(trial, SWEEP_ONLY), "hydra.mode=RUN"]


def overrides_yaml(
    study: optuna.Study, trial: optuna.trial.FrozenTrial, app: dict[str, Any], command: list[str]
) -> str:
    """A plain app's adopted trial: its overrides as a YAML list (the form of Hydra's own
    ``.hydra/overrides.yaml``), under a header with the command that reruns it."""
    source = provenance(study, trial)
    head = [
        f"# Adopted from study {study.study_name!r}, trial {trial.number}: "
        f"{source['objective']} {source['value']}, MLflow run {source['run_id'] or '-'}.",
        f"# Rerun, from {app['cwd']}:",
        f"#   {shlex.join(command)}",
        "",
    ]
    overrides = command[len(app["command"]) :]
    return "\n".join(head) + OmegaConf.to_yaml(OmegaConf.create(overrides))


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
