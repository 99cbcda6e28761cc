"""The extension's classes registered with pynwb as soon as pynwb is imported.

The package imports pynwb only where it is used (so that the command line starts fast).
An NWB extension is expected to register its classes on import, though: a user who runs
``import ndx_encoding_subspace`` and then reads a file with pynwb must get the typed
classes. :func:`register_with_pynwb` makes that so: when pynwb is already imported it
imports :mod:`.extension` (which loads the namespace and registers the classes) at once;
otherwise a one-shot import hook does it right after pynwb has been imported, by anyone.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType

_PACKAGE = __name__.rpartition(".")[0]
_EXTENSION = f"{_PACKAGE}.extension"


def _register() -> None:
    """Import :mod:`.extension`; warn instead of failing the user's ``import pynwb``."""
    try:
        importlib.import_module(_EXTENSION)
    except Exception as err:  # a broken install must not make pynwb unusable
        warnings.warn(f"{_PACKAGE}: could not register its NWB classes with pynwb: {err}",
                      UserWarning, stacklevel=2)


class _ThenRegister(importlib.abc.Loader):
    """Runs pynwb's own loader, then registers the extension's classes."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        # pynwb keeps its own loader (importlib.resources and pkgutil ask it for files)
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        _register()


class _AfterPynwb(importlib.abc.MetaPathFinder):
    """Finds pynwb as the other finders do and wraps its loader in :class:`_ThenRegister`."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != "pynwb":
            return None
        _remove()  # one shot: and the search below must not find this finder again
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenRegister(spec.loader)
        return spec


def _remove() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _AfterPynwb)]


def register_with_pynwb() -> None:
    """Register the extension's classes now if pynwb is imported, else right after it is."""
    if "pynwb" in sys.modules:
        _register()
    elif not any(isinstance(f, _AfterPynwb) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterPynwb())
