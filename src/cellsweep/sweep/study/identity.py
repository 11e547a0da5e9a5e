"""What a study is: its app config, its search space and the content of its data files.

A study is resumed only by the command that made it (DESIGN.md §4). Its identity is the composed
app config with the fixed overrides (every key but the sweeper's own ``hydra`` section and the
groups that only say where things are written), the search space, and a content hash of every
existing file a config value names, so that ``data.path=b.csv`` never resumes the study of
``a.csv`` and an edited ``a.csv`` does not either. Keys the space searches are left out: their
defaults never reach a trial. Interpolations are kept as written (``${paths.output_dir}``), since
their resolved values hold timestamps; a file path is found by resolving each value on its own.

The fingerprint is a short hash of all this; the whole description is stored with the study, so
a mismatch can say which keys differ.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import InterpolationToMissingValueError, OmegaConfBaseException

from cellsweep.errors import ConfigError

IDENTITY_ATTR, FINGERPRINT_ATTR = "cellsweep_identity", "cellsweep_fingerprint"
FINGERPRINT_CHARS = 8
_CHUNK = 1 << 20


@dataclass(frozen=True)
class StudyIdentity:
    """What makes two launches the same study: a fingerprint and the items it was hashed from."""

    fingerprint: str
    items: dict[str, str]  # "config.<key>", "space.<key>", "file.<key>" -> a canonical string


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, read in chunks (data files may be large)."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()[:16]


def _leaves(node: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from _leaves(value, f"{prefix}{key}.")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _leaves(value, f"{prefix}{i}.")
    else:
        yield prefix[:-1], node


def _resolved(cfg: DictConfig, key: str) -> Any:
    """The value an interpolation names, to find a data file behind it. A value known only
    when a job runs (its output folder: an interpolation to a missing value) names no input,
    and None is right; anything else that cannot resolve would silently drop a data file out
    of the identity, so it is refused."""
    try:
        return OmegaConf.select(cfg, key, throw_on_missing=False)
    except InterpolationToMissingValueError:
        return None
    except OmegaConfBaseException as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"{key}: cannot be resolved to identify the study ({reason}); fix it, or list "
            f"{key.split('.')[0]!r} in hydra.sweeper.identity_ignore"
        ) from None


@contextlib.contextmanager
def _as_in_a_job(cfg: DictConfig) -> Iterator[None]:
    """``${hydra:...}`` resolves against the config's own ``hydra`` node, as it does in a job:
    what Hydra fills in only when a job runs (its output folder) is then a missing value, not an
    error. The process's HydraConfig is put back afterwards."""
    from hydra.core.hydra_config import HydraConfig

    holder = HydraConfig.instance()
    before = holder.cfg
    if "hydra" in cfg:
        holder.set_config(copy.deepcopy(cfg))  # it marks the node it is given read-only
    try:
        yield
    finally:
        holder.cfg = before


def _named_file(value: Any, roots: Iterable[Path]) -> Path | None:
    if not isinstance(value, str) or not value or "\n" in value or len(value) > 4096:
        return None
    path = Path(value)
    for candidate in [path] if path.is_absolute() else [root / path for root in roots]:
        try:
            if candidate.is_file():
                return candidate
        except OSError:
            return None
    return None


def _searched(key: str, searched: set[str]) -> bool:
    return any(key == s or key.startswith(f"{s}.") for s in searched)


def study_identity(
    cfg: DictConfig,
    space: Mapping[str, Any],
    ignore: Iterable[str] = (),
    roots: Iterable[Path] = (Path.cwd(),),
) -> StudyIdentity:
    """The identity of the study that ``cfg`` (composed with the fixed overrides) and ``space``
    (key -> search expression) define; ``ignore`` names top-level keys that are not part of it."""
    skip = {"hydra", *ignore}
    searched = {str(k) for k in space}
    raw = OmegaConf.to_container(cfg, resolve=False)
    items: dict[str, str] = {}
    roots = list(roots)
    with _as_in_a_job(cfg):
        for key, value in _leaves({k: v for k, v in raw.items() if str(k) not in skip}):
            if _searched(key, searched):
                continue
            items[f"config.{key}"] = json.dumps(value, sort_keys=True, default=str)
            named = _resolved(cfg, key) if isinstance(value, str) and "${" in value else value
            path = _named_file(named, roots)
            if path is not None:
                items[f"file.{key}"] = file_digest(path)
    for key, expr in space.items():
        if isinstance(expr, (DictConfig, ListConfig)):
            expr = OmegaConf.to_container(expr, resolve=True)
        items[f"space.{key}"] = json.dumps(expr, sort_keys=True, default=str)
    blob = json.dumps(items, sort_keys=True).encode()
    return StudyIdentity(hashlib.sha256(blob).hexdigest()[:FINGERPRINT_CHARS], items)


def differences(stored: Mapping[str, str], current: Mapping[str, str], limit: int = 3) -> str:
    """The first few keys that differ, in words: 'task.sim.model 1 -> 2, data file data.path'."""
    out = []
    for key in sorted(set(stored) | set(current)):
        a, b = stored.get(key), current.get(key)
        if a == b:
            continue
        kind, _, name = key.partition(".")
        if kind == "file":
            out.append(f"the content of {name}'s file")
        elif kind == "space" and (a is None or b is None):
            out.append(f"{name} {'joined' if a is None else 'left'} the search space")
        elif kind == "space":
            out.append(f"search space of {name} {json.loads(a)} -> {json.loads(b)}")
        else:
            shown = [json.loads(v) if v is not None else "(unset)" for v in (a, b)]
            out.append(f"{name} {shown[0]} -> {shown[1]}")
    more = f" and {len(out) - limit} more" if len(out) > limit else ""
    return ", ".join(out[:limit]) + more
