"""Objects of a file chosen by name: ``reader.sounds``, ``reader.units`` and the like name
an object by its path or its base name, or (``reader.sounds``) by a pattern."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

from ..errors import ConfigError

__all__ = ["named_by", "pick_paths", "pick_path"]


def named_by(wanted: Sequence[str], path: str) -> bool:
    """Whether a path or base name of ``wanted`` (``reader.sounds``; patterns such as
    ``stimulus/presentation/sound_*`` too) names the object at ``path``."""
    base = path.rpartition("/")[2]
    return any(w.strip().lstrip("/") in (path, base) or fnmatch.fnmatchcase(path, w.strip().lstrip("/"))
               or fnmatch.fnmatchcase(base, w.strip()) for w in wanted)


def pick_paths(wanted: str, paths: list[str], option: str, name: str) -> list[str]:
    """The paths of ``paths`` that ``wanted`` names: :func:`pick_path`, or every path (or
    base name) a pattern (``*``, ``?``, ``[``) matches, at least one."""
    key = wanted.strip().lstrip("/")
    if not any(c in wanted for c in "*?[") or key in paths or any(p.rpartition("/")[2] == key for p in paths):
        return [pick_path(wanted, paths, option, name)]  # a name holding [ is that name first
    found = [p for p in paths if named_by([wanted], p)]
    if not found:
        raise ConfigError(f"{option} = {wanted!r} matches no object in {name}; candidates: "
                          f"{', '.join(paths) or 'none'}")
    return found


def pick_path(wanted: str, paths: list[str], option: str, name: str) -> str:
    """The one path of ``paths`` that ``wanted`` names (full path or unique base name)."""
    key = wanted.strip().lstrip("/")
    if key in paths:
        return key
    by_base = [p for p in paths if p.rpartition("/")[2] == key]
    if len(by_base) == 1:
        return by_base[0]
    raise ConfigError(
        f"{option} = {wanted!r} matches {'several' if by_base else 'no'} object(s) in {name}; "
        f"candidates: {', '.join(by_base or paths) or 'none'}"
    )
