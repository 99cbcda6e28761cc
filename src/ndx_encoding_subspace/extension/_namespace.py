"""The namespace the classes are registered in, and the docval conventions they share.

``ndx_encoding_subspace/__init__.py`` loads the namespace file into pynwb before it imports
this package (Python always runs a package's ``__init__`` before any of its submodules),
so ``register_class`` and ``register_map`` find every type here.
"""

from __future__ import annotations

from hdmf.utils import AllowPositional

NAMESPACE = "ndx-encoding-subspace"

# Constructors are keyword-only.
_KW = {"allow_positional": AllowPositional.ERROR}
# The DynamicTable constructor arguments every table passes through.
_TABLE_ARGS = ("id", "columns", "colnames", "target_tables")
