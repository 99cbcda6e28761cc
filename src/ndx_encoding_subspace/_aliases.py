"""Import paths of release 0.1.0, kept for one release as deprecated aliases.

``import ndx_encoding_subspace.training`` still works and gives the module now at
``ndx_encoding_subspace.fitting.schedule``, with a :class:`DeprecationWarning` naming
the new path. A module whose content now lives in several modules (``stage_cache``)
gives a module holding the public names of all of them. Old names that are now
packages (``subspace``, ``dstrf``, ``circuit``, ``pipeline``) need no alias: the package
exports what the module did.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

_PACKAGE = __name__.rpartition(".")[0]

#: old module (relative to the package) -> its home in the stage layout (or its homes)
MOVED: dict[str, str | tuple[str, ...]] = {
    "analysis": "pipeline.stages",
    "celltype": "data.celltype",
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
    "stage_cache": ("cache", "pipeline.stage_cache"),
    "subspace_model": "nonlinearity.subspace_model",
    "subspace_stream": "subspace.stream",
    "training": "fitting.schedule",
    "training_members": "fitting.members",
    "report": "viz.report",
    "io.mock_files": "testing.files",
    "io.mock_dandi": "testing.dandi_server",
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, new: tuple[str, ...]) -> None:
        self.new = new

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(f"{spec.name} is deprecated and will be removed in the next release; import "
                      f"{' or '.join(self.new)} instead", DeprecationWarning, stacklevel=2)
        homes = [importlib.import_module(name) for name in self.new]
        if len(homes) == 1:
            return homes[0]
        joined = ModuleType(spec.name, f"Deprecated: the public names of {', '.join(self.new)}.")
        for home in homes:
            for name in home.__all__:
                setattr(joined, name, getattr(home, name))
        joined.__all__ = [name for home in homes for name in home.__all__]
        return joined

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
        homes = (new,) if isinstance(new, str) else new
        return importlib.machinery.ModuleSpec(
            fullname, _AliasLoader(tuple(f"{_PACKAGE}.{home}" for home in homes)))


def install() -> None:
    """Add the alias finder to :data:`sys.meta_path` (once)."""
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.append(_AliasFinder())
