"""The ``--SECTION.NAME`` flags of the command line: one per parameter of
:class:`~ndx_encoding_subspace.pipeline.config.PipelineConfig`, their values read as the
parameter's type, and the configuration they ask for (preset, ``--config`` files, flags).
"""

from __future__ import annotations

import argparse
import json
import re
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__: list[str] = []  # the command line's own helpers (cli.py)


def _flag_value(text: str) -> Any:
    """Command-line value: JSON when it parses (numbers, true/false, lists), else text."""
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "on", "false", "no", "off"):
        return lowered in ("true", "yes", "on")
    if "," in text and not text.strip().startswith("["):
        return [_flag_value(part) for part in text.split(",")]
    for parse in (json.loads, float):  # float: nan and inf, which JSON spells otherwise
        try:
            return parse(text)
        except ValueError:
            continue
    return text


def _typed_flag_value(text: str, hint: Any) -> Any:
    """A flag's value for a parameter of type ``hint``: text parameters take the text as
    typed (a sound named ``3`` or ``yes`` stays a name), lists of text split at commas;
    anything else as :func:`_flag_value` reads it."""
    if text.strip().lower() in ("none", "null") and type(None) in typing.get_args(hint):
        return None
    if hint is str:
        quoted = len(text) >= 2 and text[0] == text[-1] == '"'
        return _flag_value(text) if quoted else text
    if typing.get_origin(hint) is tuple and typing.get_args(hint)[:1] == (str,):
        if text.strip().startswith("["):
            return _flag_value(text)
        return [part.strip() for part in text.split(",")] if text.strip() else []
    return _flag_value(text)


def _text(value: str) -> str:
    """A command-line input: never empty (an unset shell variable would mean the current folder)."""
    if not value.strip():
        raise argparse.ArgumentTypeError("empty (an unset shell variable?)")
    return value


def _path(value: str) -> Path:
    """A command-line path: never empty (``Path("")`` would be the current folder), with
    ``~`` expanded (the shell leaves it in ``--out=~/results``; inputs expand it too)."""
    try:
        return Path(_text(value)).expanduser()
    except RuntimeError:  # ~name of no user on this machine
        raise argparse.ArgumentTypeError(f"{value}: no home folder of that user on this machine") from None


def _add_config_flags(parser: argparse.ArgumentParser, sections: Sequence[str] | None = None,
                      preset: bool = True) -> None:
    """``--config``, ``--preset`` (with ``preset``) and a ``--SECTION.NAME`` flag per parameter
    (of ``sections``, else all)."""
    from .pipeline.config import PRESETS, PipelineConfig

    parser.add_argument("--config", type=_path, action="append",
                        help="TOML or YAML configuration file (given more than once, applied in order)")
    if preset:
        parser.add_argument("--preset", choices=PRESETS, default=None,
                            help="start from a shipped configuration: 'paper' has the authors' own "
                            "settings (docs/presets.md); --config and flags change it further")
    groups: dict[str, argparse._ArgumentGroup] = {}
    defaults = PipelineConfig()
    for section, field in defaults.fields():
        if sections is not None and section not in sections:
            continue
        group = groups.setdefault(section, parser.add_argument_group(f"[{section}] parameters"))
        default = getattr(getattr(defaults, section), field.name)
        doc = (field.metadata or {}).get("help") or type(getattr(defaults, section)).describe(field.name)
        group.add_argument(
            f"--{section}.{field.name}",
            dest=f"cfg__{section}__{field.name}",
            metavar="VALUE",
            default=argparse.SUPPRESS,
            help=f"{doc} (default: {_as_flag(default)})".strip().replace("%", "%%"),
        )


def _add_dataset_flags(parser: argparse.ArgumentParser) -> None:
    """A ``--dataset.NAME`` flag per parameter of the dataset summary's statistics
    (:class:`~ndx_encoding_subspace.dataset.params.DatasetParams`)."""
    import dataclasses

    from .dataset.params import DatasetParams

    group = parser.add_argument_group("[dataset] parameters of the summary's statistics")
    defaults = DatasetParams()
    for field in dataclasses.fields(DatasetParams):
        default = getattr(defaults, field.name)
        group.add_argument(
            f"--dataset.{field.name}", dest=f"ds__{field.name}", metavar="VALUE", default=argparse.SUPPRESS,
            help=f"{DatasetParams.describe(field.name)} (default: "
                 f"{'its own' if default is None else _as_flag(default)})".replace("%", "%%"))


def _dataset_from_args(args: argparse.Namespace):
    """The :class:`~ndx_encoding_subspace.dataset.params.DatasetParams` the ``[dataset]``
    tables of the ``--config`` files (in order), then the flags, ask for."""
    from .dataset.params import DatasetParams
    from .errors import ConfigError
    from .pipeline.config import read_tables

    params = DatasetParams()
    for path in getattr(args, "config", None) or []:
        table = read_tables(path).get("dataset")
        if table is not None:
            if not isinstance(table, dict):
                raise ConfigError(f"section [dataset] in {path} must be a table")
            params = DatasetParams.from_dict({**params.to_dict(), **table}, where=f"[dataset] of {path}")
    hints = typing.get_type_hints(DatasetParams)
    values = {key[4:]: _typed_flag_value(value, hints.get(key[4:]))
              for key, value in vars(args).items() if key.startswith("ds__")}
    return DatasetParams.from_dict({**params.to_dict(), **values}) if values else params


def _as_flag(value: Any) -> str:
    """``value`` as it is typed after its flag (what :func:`_flag_value` reads back)."""
    if isinstance(value, tuple | list):
        return ",".join(_as_flag(v) for v in value) if len(value) > 1 else json.dumps(list(value))
    if isinstance(value, str):
        return value if value and _flag_value(value) == value else json.dumps(value)
    return json.dumps(value)


def _config_from_args(args: argparse.Namespace, base: Any = None):
    """The configuration the flags ask for: ``base`` (else the preset, else the defaults)
    changed by each ``--config`` file in order, then by the ``--SECTION.NAME`` flags."""
    from .pipeline.config import PipelineConfig

    preset = getattr(args, "preset", None)
    start = base is not None or preset
    if base is None:
        base = PipelineConfig.from_preset(preset) if preset else PipelineConfig()
    for i, path in enumerate(getattr(args, "config", None) or []):  # later files change earlier ones
        base = base.updated_from_file(path) if start or i else PipelineConfig.from_file(path)
    changes: dict[str, dict[str, Any]] = {}
    for key, value in vars(args).items():
        if key.startswith("cfg__"):
            _, section, name = key.split("__", 2)
            hint = typing.get_type_hints(type(getattr(base, section))).get(name)
            changes.setdefault(section, {})[name] = _typed_flag_value(value, hint)
    _dataset_from_args(args)  # the files' [dataset] tables too: an unknown key is an error everywhere
    return base.replace(**changes) if changes else base


#: a value that starts with "-" but is a number or a list of them (-1e-3, -1,-1, -inf)
_NEGATIVE = re.compile(r"^-(\d|\.\d|inf|nan)[0-9a-z.,+-]*$", re.IGNORECASE)


def _negatives_joined(argv: list[str]) -> list[str]:
    """``--section.name -1e-3`` as ``--section.name=-1e-3``: argparse takes a value such as
    ``-1e-3`` for an option, and every parameter flag takes a value."""
    out: list[str] = []
    for token in argv:
        previous = out[-1] if out else ""
        if (_NEGATIVE.match(token) and previous.startswith("--") and "." in previous
                and "=" not in previous):
            out[-1] = f"{previous}={token}"
        else:
            out.append(token)
    return out
