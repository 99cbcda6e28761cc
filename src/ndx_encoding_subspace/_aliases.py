"""Import paths of release 0.1.0, kept for one release as deprecated aliases.

``import ndx_encoding_subspace.training`` still works and gives the module now at
``ndx_encoding_subspace.fitting.schedule``, with a :class:`DeprecationWarning` naming
the new path. Old names that are now packages (``subspace``, ``dstrf``, ``circuit``,
``pipeline``) need no alias: the package exports what the module did.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

_PACKAGE = __name__.rpartition(".")[0]

#: old module (relative to the package) -> its home since 0.2.0
MOVED: dict[str, str] = {
    "analysis": "pipeline.stages",
    "celltype": "data.celltype",
    "compute": "compute",
    "config": "pipeline.config",
    "demo": "pipeline.demo",
    "distributed": "pipeline.distributed",
    "dstrf_ensemble": "dstrf.ensemble",
    "dstrf_layers": "dstrf.layers",
    "ensemble": "fitting.ensemble",
    "linalg": "subspace.linalg",
    "model_params": "models.params",
    "ns1": "datasets.ns1",
    "ns1_site": "datasets.ns1",
    "projection": "subspace.projection",
    "recording": "data.recording",
    "scores": "fitting.scores",
    "simulate": "datasets.simulated.site",
    "simulate_truth": "datasets.simulated.truth",
    "simulate_units": "datasets.simulated.units",
    "site": "data.site",
    "sounds": "data.sounds",
    "spectrogram": "data.spectrogram",
    "ssrf": "nonlinearity.ssrf",
    "stage_cache": "pipeline.stage_cache",
    "subspace_model": "nonlinearity.subspace_model",
    "subspace_stream": "subspace.stream",
    "training": "fitting.schedule",
    "training_members": "fitting.members",
    "report": "viz.report",
    "io.mock_files": "testing.files",
    "io.mock_dandi": "testing.dandi_server",
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(f"{spec.name} is deprecated and will be removed in 0.3; import {self.new} instead",
                      DeprecationWarning, stacklevel=2)
        return importlib.import_module(self.new)

    def exec_module(self, module: ModuleType) -> None:
        pass


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):  # noqa: D102
        prefix = _PACKAGE + "."
        if not fullname.startswith(prefix):
            return None
        new = MOVED.get(fullname[len(prefix):])
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(f"{_PACKAGE}.{new}"))


def install() -> None:
    """Add the alias finder to :data:`sys.meta_path` (once)."""
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.append(_AliasFinder())
