"""Typed views of config sections: a wrong type or an unknown key is one ``ConfigError`` line.

Workloads describe their config as dataclasses; ``parse`` checks a (Hydra) mapping against one
through OmegaConf's structured configs and builds the instance, whose ``__post_init__`` checks
ranges. Hydra itself rejects unknown keys on the command line; this also catches them in files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from cellsweep.errors import ConfigError

T = TypeVar("T")


def parse(cls: type[T], section: Mapping[str, Any] | Any, prefix: str) -> T:
    """Build ``cls`` from ``section``; errors name the full key, e.g. ``task.sim.n_particles``.

    A ``_target_`` key (how Hydra names a section's builder) is not part of the schema."""
    if isinstance(section, Mapping):
        section = {k: v for k, v in section.items() if k != "_target_"}
    try:
        schema = OmegaConf.structured(cls)
        merged = OmegaConf.merge(schema, section)
        return OmegaConf.to_object(merged)  # type: ignore[return-value]
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None)
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        where = f"{prefix}.{key}" if key else prefix
        raise ConfigError(f"{where}: {msg}") from None
