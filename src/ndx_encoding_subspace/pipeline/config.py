"""The pipeline's configuration: one parameter set per stage, from files or flags.

A configuration file (TOML or YAML) has one table per stage, named as in
:data:`SECTIONS`, holding that stage's parameters::

    [training]
    max_epochs = 200

    [subspace]
    variance_threshold = 0.9

The table ``[compute]`` (``threads = 2``) bounds the CPU threads of the whole run
(:mod:`.compute`); it does not change results. The table ``[cluster]`` says where the
sites of a dataset run (:mod:`.cluster`); it does not change results either, and is left
out of :meth:`PipelineConfig.to_dict` (so of provenance and fingerprints) while it holds
its defaults. Unknown tables and unknown keys are errors. Every parameter is also a
command-line flag ``--SECTION.NAME`` (see ``encoding-subspace run --help``).

Presets are configuration files shipped with the package (:data:`PRESETS`):
``PipelineConfig.from_preset("paper")`` has the authors' own settings (METHOD.md
section 10; docs/presets.md). A file or flags given with a preset change it further.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10, which requires-python admits: tomllib's backport
    import tomli as tomllib

# Each parameter set from its own module, none of which imports torch, scipy or pynwb:
# the command line builds its flags from them.
from ..circuit.tiling import TilingParams
from ..compute import ComputeParams
from ..data.celltype import CellTypeParams
from ..data.spectrogram import SpectrogramParams
from ..dstrf.params import DSTRFParams
from ..errors import ConfigError
from ..fitting.training_params import EnsembleParams, TrainingParams
from ..io.reader_params import ReaderParams
from ..models.params import CNNParams, LNParams, ScoringParams, SubspaceModelParams
from ..nonlinearity.ssrf import SSRFParams
from ..params import ADDED_LATER, Params, coerce, unknown_keys
from ..subspace.params import SubspaceParams
from .cluster_params import ClusterParams

__all__ = ["SECTIONS", "OTHER_TABLES", "PRESETS", "PipelineConfig", "section_class", "preset_path",
           "read_tables"]

#: stage name -> its parameter set, in pipeline order
SECTIONS: dict[str, type[Params]] = {
    "reader": ReaderParams,
    "spectrogram": SpectrogramParams,
    "celltype": CellTypeParams,
    "cnn": CNNParams,
    "ln": LNParams,
    "training": TrainingParams,
    "ensemble": EnsembleParams,
    "dstrf": DSTRFParams,
    "subspace": SubspaceParams,
    "subspace_model": SubspaceModelParams,
    "ssrf": SSRFParams,
    "tiling": TilingParams,
    "scoring": ScoringParams,
    # not a stage: CPU threads of the whole run (no effect on results)
    "compute": ComputeParams,
    # not a stage: where the sites of a dataset run (no effect on results)
    "cluster": ClusterParams,
}

#: tables of a configuration file that are no section of the pipeline's: ``[dataset]``, the
#: statistics of the dataset summary (:class:`~..dataset.params.DatasetParams`), which
#: ``run`` and ``summarize`` read from the same files
OTHER_TABLES = ("dataset",)


def _stage_tables(tables: Mapping[str, Any]) -> dict[str, Any]:
    return {name: table for name, table in tables.items() if name not in OTHER_TABLES}


#: sections left out of :meth:`PipelineConfig.to_dict` while they hold their defaults:
#: settings of where a run happens, which results files made before them do not hold
OMITTED_WHEN_DEFAULT = ("cluster",)


#: the folder of the shipped presets, one ``NAME.toml`` each
PRESET_FOLDER = Path(__file__).with_name("presets")
#: names of the shipped presets
PRESETS = tuple(sorted(p.stem for p in PRESET_FOLDER.glob("*.toml")))


def preset_path(name: str) -> Path:
    """The file of preset ``name``."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; known: {', '.join(PRESETS) or 'none'}")
    return PRESET_FOLDER / f"{name}.toml"


def section_class(name: str) -> type[Params]:
    """The parameter class of stage ``name``."""
    if name not in SECTIONS:
        raise ConfigError(f"unknown configuration section {name!r}; known: {', '.join(SECTIONS)}")
    return SECTIONS[name]


class PipelineConfig:
    """Parameters of every stage of the pipeline, each with the paper's defaults.

    Parameters
    ----------
    **sections
        Stage name -> a parameter set instance or a mapping of its parameters. Stages
        not given take their defaults.

    Examples
    --------
    >>> cfg = PipelineConfig(training={"max_epochs": 50}, subspace={"variance_threshold": 0.9})
    >>> cfg.training.max_epochs
    50
    """

    def __init__(self, **sections: Params | Mapping[str, Any]) -> None:
        unknown = sorted(set(sections) - set(SECTIONS))
        if unknown:
            raise ConfigError(
                f"unknown configuration section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}"
            )
        self._sections: dict[str, Params] = {}
        for name, cls in SECTIONS.items():
            value = sections.get(name)
            if value is None:
                value = cls()
            elif isinstance(value, Mapping):
                value = cls.from_dict(value, where=f"[{name}]")
            elif not isinstance(value, Params):
                raise ConfigError(f"section {name!r} needs {cls.__name__} or a mapping of its "
                                  f"parameters, got {type(value).__name__}")
            elif not isinstance(value, cls):
                raise ConfigError(f"section {name!r} needs {cls.__name__}, got {type(value).__name__}")
            self._sections[name] = value
        self._check_sections()

    def _check_sections(self) -> None:
        """Rules between sections (each section checks its own values)."""
        components, dims = self.subspace.n_components, self.tiling.n_dims
        if dims != 3:
            raise ConfigError(f"tiling.n_dims = {dims}: a results file keeps response regions on a 3-D grid, "
                              "so a run tiles 3 shared dimensions (other counts: "
                              "ndx_encoding_subspace.circuit.tiling.tiling from Python)")
        if components < dims:
            raise ConfigError(f"subspace.n_components {components} is fewer than the tiling's {dims} "
                              f"dimensions of the shared subspace (tiling.n_dims): use at least {dims}")

    def __getattr__(self, name: str) -> Params:
        sections = self.__dict__.get("_sections", {})
        if name in sections:
            return sections[name]
        raise AttributeError(name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PipelineConfig) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        """The parameters that differ from the defaults (``to_dict()`` has them all)."""
        default = {name: cls().to_dict() for name, cls in SECTIONS.items()}
        changed = [f"{section}.{key}={value!r}" for section, values in self.to_dict().items()
                   for key, value in values.items() if default[section].get(key, object()) != value]
        return f"PipelineConfig({', '.join(changed) or 'the defaults'})"

    @classmethod
    def of(cls, value: PipelineConfig | Mapping[str, Any] | None) -> PipelineConfig:
        """``value`` as a configuration: the defaults for None, nested mappings built with
        :meth:`from_dict`, a configuration as it is (:class:`ConfigError` otherwise)."""
        return coerce(cls, value, "a mapping of sections")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, where: str = "") -> PipelineConfig:
        """Build from nested mappings; unknown sections or keys raise ConfigError."""
        if not isinstance(values, Mapping):
            raise ConfigError(f"configuration{' in ' + where if where else ''} must be a table")
        unknown = unknown_keys(values, SECTIONS)
        if unknown:
            place = f" in {where}" if where else ""
            raise ConfigError(
                f"unknown configuration section(s) {', '.join(unknown)}{place}; "
                f"known: {', '.join(SECTIONS)}"
            )
        sections = {}
        for name, table in values.items():
            if not isinstance(table, Mapping):
                raise ConfigError(f"section [{name}]{' in ' + where if where else ''} must be a table")
            sections[name] = section_class(name).from_dict(
                table, where=f"[{name}] of {where}" if where else f"[{name}]"
            )
        return cls(**sections)

    @classmethod
    def from_provenance(cls, values: Mapping[str, Any], *, where: str = "") -> PipelineConfig:
        """The configuration a results file was made with, from its provenance's
        ``config`` (``load_results(path).provenance["config"]``).

        A parameter added after the file was written is absent from it; it takes the value
        that does what the release that wrote the file did (:data:`~..params.ADDED_LATER`),
        not today's default, which may differ (``scoring.signal_power``).
        """
        if not isinstance(values, Mapping):
            raise ConfigError(f"configuration{' in ' + where if where else ''} must be a table")
        filled = {name: dict(table) if isinstance(table, Mapping) else table
                  for name, table in values.items()}
        for (section, name), before in ADDED_LATER.items():
            table = filled.setdefault(section, {})
            if isinstance(table, dict):
                table.setdefault(name, before)
        return cls.from_dict(filled, where=where)

    @classmethod
    def from_preset(cls, name: str) -> PipelineConfig:
        """The shipped preset ``name`` (one of :data:`PRESETS`)."""
        return cls.from_file(preset_path(name))

    def updated_from_file(self, path: str | Path) -> PipelineConfig:
        """A copy with the parameters a configuration file sets, checked together with the
        ones it keeps (a file may move one bound of a pair that the configuration set);
        a refusal names the file."""
        values = self.to_dict()
        for name, table in _stage_tables(read_tables(Path(path))).items():
            known = isinstance(name, str) and name in SECTIONS and isinstance(table, Mapping)
            values[name] = {**values.get(name, {}), **table} if known else table
        return PipelineConfig.from_dict(values, where=str(path))

    @classmethod
    def from_file(cls, path: str | Path) -> PipelineConfig:
        """Read a TOML (``.toml``) or YAML (``.yaml``/``.yml``) configuration file (its
        tables of :data:`OTHER_TABLES`, read by other steps, left out)."""
        path = Path(path)
        return cls.from_dict(_stage_tables(read_tables(path)), where=str(path))

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Every parameter of every stage, JSON-compatible (stored as provenance).

        Sections of :data:`OMITTED_WHEN_DEFAULT` appear only when set.
        """
        return {name: params.to_dict() for name, params in self._sections.items()
                if name not in OMITTED_WHEN_DEFAULT or params != SECTIONS[name]()}

    def replace(self, **sections: Params | Mapping[str, Any]) -> PipelineConfig:
        """A copy with some parameters of some stages changed: a mapping changes the
        parameters it names, a parameter object replaces its section."""
        values = self.to_dict()
        for name, changes in sections.items():
            if name not in SECTIONS:
                raise ConfigError(f"unknown configuration section {name!r}")
            if isinstance(changes, SECTIONS[name]):
                changes = changes.to_dict()
            elif not isinstance(changes, Mapping):
                raise ConfigError(f"section {name!r} needs {SECTIONS[name].__name__} or a mapping "
                                  f"of its parameters, got {type(changes).__name__}")
            values[name] = {**values.get(name, {}), **dict(changes)}
        return PipelineConfig.from_dict(values)

    def fields(self) -> list[tuple[str, dataclasses.Field]]:
        """(section, field) of every parameter, for building command-line flags."""
        return [
            (name, f) for name, params in self._sections.items() for f in dataclasses.fields(params)
        ]


def read_tables(path: str | Path) -> dict[str, Any]:
    """The tables of a TOML or YAML configuration file, as written (not yet checked)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: a folder, not a configuration file (give a .toml or .yaml file)")
    if not path.is_file():
        what = "not found" if not path.exists() else "not a regular file (a folder, FIFO or device)"
        raise ConfigError(f"configuration file {what}: {path}")
    kind = path.suffix.lower()
    if kind not in (".toml", ".yaml", ".yml"):
        raise ConfigError(f"{path}: not a configuration file of a known kind (.toml, .yaml or .yml; "
                          f"{kind or 'no extension'} given)")
    try:
        text = path.read_text()
        values = tomllib.loads(text) if kind == ".toml" else _yaml(text)
    except (tomllib.TOMLDecodeError, ValueError) as err:  # UnicodeDecodeError is a ValueError
        raise ConfigError(f"{path}: cannot parse configuration: {err}") from None
    except Exception as err:  # yaml.YAMLError without importing yaml at module level
        if type(err).__module__.startswith("yaml"):
            mark = getattr(err, "problem_mark", None)  # one line: the problem and where, not the excerpt
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
            said = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise ConfigError(f"{path}: cannot parse configuration: {said}{where}") from None
        raise
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: configuration must be a table of sections")
    return values


def _yaml(text: str) -> Any:
    """YAML text read safely, a key repeated in one mapping refused (TOML refuses it too;
    YAML loaders keep the last silently)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def mapping(loader: Any, node: Any, deep: bool = False) -> dict[Any, Any]:
        keys = [loader.construct_object(k, deep=deep) for k, _ in node.value]
        twice = sorted({str(k) for k in keys if keys.count(k) > 1})
        if twice:
            mark = node.start_mark
            raise ValueError(f"key {twice[0]!r} given twice (line {mark.line + 1}, column {mark.column + 1})")
        return loader.construct_mapping(node, deep=deep)

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    # YAML 1.1 reads 1e-3 (an exponent without a dot) as text; it is the number people mean
    exponent = re.compile(r"^[-+]?[0-9]+(\.[0-9]*)?[eE][-+]?[0-9]+$")
    Loader.add_implicit_resolver("tag:yaml.org,2002:float", exponent, list("-+0123456789"))
    return yaml.load(text, Loader=Loader) or {}  # a SafeLoader: no Python objects
