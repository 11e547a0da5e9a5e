"""Each trial's config, composed the way Hydra does it, without recomposing the whole tree.

Hydra builds a trial's config by composing the defaults list again (every file, every group)
and then applying the value overrides with ``OmegaConf.update``. Within one study only the
sampled values change, so the tree for the fixed overrides is composed once, and each trial
applies its sampled values with Hydra's own override code on a copy. A sampled key that names
a config group (``model=choice(a,b)``) changes the defaults list, and takes Hydra's full path.
The first trial is composed both ways and compared; any difference turns the shortcut off.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf, open_dict

from cellsweep.sweep.compat import apply_value_overrides, overrides_dirname

log = logging.getLogger("cellsweep.sweep")


class TrialComposer:
    """Composes each trial's config from the study's once-composed tree (module docstring)."""

    def __init__(self, loader: Any, master: DictConfig, fixed: Sequence[str]) -> None:
        self.loader, self.master, self.fixed = loader, master, list(fixed)
        self._parser = OverridesParser.create()
        self._base: DictConfig | None = None
        self._checked = False
        self.enabled = True
        self.fast, self.full = 0, 0  # how each trial was composed (for tests and benchmarks)

    def _full(self, overrides: Sequence[str]) -> DictConfig:
        self.full += 1
        return self.loader.load_sweep_config(self.master, list(overrides))

    def _value_overrides(self, sampled: Sequence[str], base: DictConfig) -> list[Any] | None:
        """The parsed overrides, or None when one of them is not a plain value of the app."""
        parsed = self._parser.parse_overrides(list(sampled))
        groups = set(base.hydra.runtime.choices.keys())
        for ov in parsed:
            key = ov.key_or_group
            if ov.package is not None or ov.is_delete() or ov.is_add() or ov.is_force_add():
                return None
            if key == "hydra" or key.startswith("hydra.") or key in groups:
                return None
        return parsed

    def base(self) -> DictConfig:
        """The study's tree: the app's config with the fixed overrides, no sampled value."""
        if self._base is None:
            self._base = self._full(self.fixed)
        return self._base

    def compose(self, overrides: Sequence[str]) -> DictConfig:
        """The trial's config, as Hydra would compose it, at a fraction of the cost."""
        overrides = list(overrides)
        if not self.enabled or overrides[: len(self.fixed)] != self.fixed:
            return self._full(overrides)
        sampled = overrides[len(self.fixed) :]
        parsed = self._value_overrides(sampled, self.base())
        if parsed is None:
            return self._full(overrides)
        cfg = copy.deepcopy(self._base)
        apply_value_overrides(parsed, cfg)
        with open_dict(cfg.hydra):
            cfg.hydra.overrides.task = [*self._base.hydra.overrides.task, *sampled]
            app = self._parser.parse_overrides(list(cfg.hydra.overrides.task))
            naming = cfg.hydra.job.config.override_dirname
            cfg.hydra.job.override_dirname = overrides_dirname(
                overrides=app,
                kv_sep=naming.kv_sep,
                item_sep=naming.item_sep,
                exclude_keys=naming.exclude_keys,
            )
        OmegaConf.copy_cache(from_config=self.master, to_config=cfg)
        if not self._checked:  # the first trial: Hydra's full path must give the same config
            self._checked = True
            reference = self._full(overrides)
            if _plain(reference) != _plain(cfg):
                log.warning("trial configs take Hydra's full composition (shortcut differs)")
                self.enabled = False
                return reference
        self.fast += 1
        return cfg


def _plain(cfg: DictConfig) -> Any:
    out = OmegaConf.to_container(cfg, resolve=False)
    out.get("hydra", {}).get("runtime", {}).pop("config_sources", None)
    return out
