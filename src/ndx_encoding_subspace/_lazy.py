"""Packages whose public names load on first use (PEP 562).

A package ``__init__`` that imports the names of heavy modules (torch, scipy, pynwb)
makes every import of the package pay for them, even of its light parameter module,
from which the command line builds its flags. Such a package ends with::

    attach(__name__, {"schedule": ("fit_model", "TrainingParams"), ...})

and ``from package import fit_model`` imports ``package.schedule`` the first time.

A public name may also be the name of a submodule (``io.inventory`` is the function
:func:`~ndx_encoding_subspace.io.inventory.inventory`). Importing a submodule binds it
to its package's attribute of that name; a lazy package keeps the public object there
instead, as an eager ``from .locate import inventory`` in the ``__init__`` did.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

__all__ = ["attach"]


class _LazyPackage(ModuleType):
    """A package module whose names in ``_lazy_names`` load on first access."""

    _lazy_names: dict[str, str]

    def __getattr__(self, name: str) -> Any:
        module = self.__dict__.get("_lazy_names", {}).get(name)
        if module is None:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        from .errors import import_public

        value = import_public(self.__name__, module, name)
        ModuleType.__setattr__(self, name, value)  # later look-ups skip this method
        return value

    def __dir__(self) -> list[str]:
        return sorted(set(self.__dict__) | set(self.__dict__.get("_lazy_names", {})))

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, ModuleType) and name in self.__dict__.get("_lazy_names", {}):
            return  # a submodule named like a public name: the name keeps the public object
        ModuleType.__setattr__(self, name, value)


def attach(package: str, modules: Mapping[str, Iterable[str]]) -> None:
    """Make ``package`` load its public names from its submodules on first access.

    Parameters
    ----------
    package : str
        The package's ``__name__`` (called from its ``__init__``).
    modules : mapping of str to iterable of str
        Submodule (relative to the package, without the leading dot) -> the names it
        gives the package.
    """
    module = sys.modules[package]
    module._lazy_names = {name: sub for sub, names in modules.items() for name in names}
    module.__class__ = _LazyPackage
