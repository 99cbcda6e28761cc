"""ndx-encoding-subspace: tuning subspaces of deep encoding models, stored in NWB."""

__version__ = "0.1.0"
